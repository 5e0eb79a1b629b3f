"""Where a bench run's files go, and writing them: JSON, Markdown, HTML plot, PNG.

A run never writes over an earlier one by accident: without ``--out`` it
gets a new folder under the system's temporary directory, and ``--out``
names the folder explicitly (how committed results are replaced, on
purpose).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from daskflow.bench.plot import screenshot, write_plot
from daskflow.bench.report import markdown


def output_folder(out: str | None) -> Path:
    """``out`` (created if needed), or a new folder ``daskflow-bench-*`` in the temp directory."""
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return Path(tempfile.mkdtemp(prefix="daskflow-bench-"))


def write_outputs(report: dict[str, Any], folder: Path, png: bool = True) -> dict[str, Path]:
    """``results.json``, ``results.md``, ``scaling.html`` and, with a browser, ``scaling.png``."""
    written = {"json": folder / "results.json", "markdown": folder / "results.md"}
    written["json"].write_text(json.dumps(report, indent=1) + "\n")
    written["markdown"].write_text(markdown(report))
    written["html"] = write_plot(report, folder / "scaling.html")
    if png:
        shot = screenshot(written["html"], folder / "scaling.png")
        if shot is not None:
            written["png"] = shot
    return written
