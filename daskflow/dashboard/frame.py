"""Putting a daskflow page into the Dask dashboard's own page frame (its navigation bar)."""

from __future__ import annotations

from typing import Any

from distributed.dashboard.components.scheduler import env


def show(doc: Any, extra: dict[str, Any], title: str, root: Any) -> None:
    """Make ``root`` the page, titled ``title``, framed like Dask's own pages."""
    doc.title = title
    doc.template = env.get_template("simple.html")
    doc.template_variables.update(extra)
    doc.add_root(root)
