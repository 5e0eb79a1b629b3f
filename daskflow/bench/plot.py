"""The scaling plot: speed-up and per-task overhead against the number of workers.

Written as a standalone Bokeh HTML file with its JavaScript inlined, so it
opens offline. A PNG is made too when a Chromium-family browser is on the
PATH: a static Bokeh document renders in a headless browser without a
Bokeh server, so ``--screenshot`` of the HTML is the picture
(``bokeh.io.export_png`` would need selenium and a driver on top).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

#: Browsers tried, in order, for the PNG.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _series(records: list[dict[str, Any]], workload: str, value: str
            ) -> dict[str, tuple[list[int], list[float]]]:
    """``{case: (workers, values)}`` for one workload, sorted by workers."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for rec in sorted((r for r in records if r["workload"] == workload and "error" not in r),
                      key=lambda r: r["workers"]):
        if value in rec:
            xs, ys = out.setdefault(rec["case"], ([], []))
            xs.append(rec["workers"])
            ys.append(rec[value])
    return out


def build_figures(report: dict[str, Any]) -> Any:
    """A Bokeh row of the figures the report has data for (speed-up; cost per task)."""
    from bokeh.layouts import row
    from bokeh.plotting import figure

    records = report["results"]
    load = "/".join(map(str, report["machine"]["load_average"]))
    note = f"{report['machine']['cores']} cores, load {load} at start"
    speed = figure(title=f"Speed-up against workers ({note})", width=560, height=400,
                   x_axis_label="workers", y_axis_label="speed-up (x)")
    cost = figure(title="Cost per no-op task against workers", width=560, height=400,
                  x_axis_label="workers", y_axis_label="microseconds per task")
    widest = 1
    for colour, workload in zip(PALETTE, ("cpu", "io"), strict=False):
        for side, dash in (("daskflow", "solid"), ("dask", "dashed")):
            for case, (xs, ys) in _series(records, workload, f"{side}_speedup").items():
                label = f"{workload} {side} ({case})"
                speed.line(xs, ys, line_dash=dash, color=colour, legend_label=label,
                           line_width=2)
                speed.scatter(xs, ys, color=colour, size=7, legend_label=label,
                              marker="circle" if side == "daskflow" else "square")
                widest = max(widest, *xs)
    speed.line([1, widest], [1, widest], color="gray", line_dash="dotted",
               legend_label="ideal (against 1 worker)")
    cost_series = {side: _series(records, "overhead", f"{side}_per_task_us")
                   for side in ("daskflow", "dask")}
    sides = (("daskflow", "solid", "circle"), ("dask", "dashed", "square"))
    for colour, case in zip(PALETTE[2:], cost_series["daskflow"], strict=False):
        for side, dash, marker in sides:
            xs, ys = cost_series[side][case]
            cost.line(xs, ys, color=colour, line_dash=dash, line_width=2,
                      legend_label=f"{side} {case}")
            cost.scatter(xs, ys, color=colour, size=7, marker=marker,
                         legend_label=f"{side} {case}")
    sizes = sorted({r["workers"] for r in records if "error" not in r})
    # The speed-up figure always holds its "ideal" line; keep a figure only if it has data.
    drawn = [fig for fig, empty in ((speed, 1), (cost, 0)) if len(fig.renderers) > empty]
    for fig in drawn:
        fig.xaxis.ticker = sizes
        fig.legend.location = "top_left"
        fig.legend.label_text_font_size = "8pt"
    return row(*(drawn or [speed]))


def write_plot(report: dict[str, Any], html: Path) -> Path:
    """The plot as a self-contained HTML file at ``html``."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    html.write_text(file_html(build_figures(report), INLINE, "daskflow bench: scaling"))
    return html


def find_browser() -> str | None:
    """A headless-capable Chromium-family browser on the PATH, or ``None``."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def screenshot(html: Path, png: Path, browser: str | None = None, timeout: float = 60
               ) -> Path | None:
    """A PNG of ``html`` taken by a headless browser; ``None`` if there is no browser."""
    browser = browser or find_browser()
    if browser is None:
        return None
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--window-size=1160,430", "--virtual-time-budget=10000",
               f"--screenshot={png}", html.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"{browser} could not screenshot {html} (exit {done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")
    return png
