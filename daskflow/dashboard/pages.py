"""The daskflow pages mounted in the Dask dashboard, and the path table they form.

Each name is a module with ``PATH``, ``TITLE`` and ``document(scheduler,
extra, doc)``; the DAG list is served at ``/daskflow`` as well, the path
the navigation bar's one "daskflow" entry leads to.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from daskflow.dashboard.layout import NAV_PAGE

PAGE_MODULES: tuple[str, ...] = (
    "daskflow.dashboard.dags",
    "daskflow.dashboard.grid",
    "daskflow.dashboard.graph",
    "daskflow.dashboard.gantt",
    "daskflow.dashboard.task",
    "daskflow.dashboard.code",
)
#: The page the navigation bar's entry opens.
HOME_MODULE = "daskflow.dashboard.dags"

Document = Callable[[Any, dict, Any], None]


def page_documents() -> dict[str, Document]:
    """``{path: document function}`` for every page, the navigation entry's path included."""
    table = {}
    for name in PAGE_MODULES:
        module = import_module(name)
        table[module.PATH] = module.document
    table[f"/{NAV_PAGE}"] = import_module(HOME_MODULE).document
    return table
