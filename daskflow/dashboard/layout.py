"""The frame every daskflow page is drawn in, and the links between pages.

daskflow's pages live under ``/daskflow/`` while Dask's statics, Bokeh's
scripts and the navigation bar's links are relative to the dashboard's
root; the template sets ``<base href>`` to that root, so every link a page
writes is relative to the root too (``href("/daskflow/grid", dag_id=...)``
gives ``daskflow/grid?dag_id=...``), which keeps working behind Dask's
``distributed.scheduler.http.prefix``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
    autoescape=False,
)

#: The navigation bar's entry for daskflow; the DAG list is served at this path too.
NAV_PAGE = "daskflow"


def href(path: str, **args: Any) -> str:
    """A link to another dashboard page, relative to the dashboard's root.

    >>> href("/daskflow/task", dag_id="etl", run_id="manual__1", map_index=-1)
    'daskflow/task?dag_id=etl&run_id=manual__1&map_index=-1'
    """
    query = urlencode({k: v for k, v in args.items() if v is not None})
    return path.lstrip("/") + (f"?{query}" if query else "")


def link(path: str, text: str, **args: Any) -> str:
    """An HTML anchor to another page, its text escaped."""
    return f'<a href="{html.escape(href(path, **args))}">{html.escape(text)}</a>'


#: Bokeh draws widgets in shadow DOMs that the page's stylesheet does not reach: inline styles.
DOT_STYLE = ("display:inline-block;width:10px;height:10px;border-radius:50%;"
             "margin-right:2px;border:1px solid #888;vertical-align:middle")
PRE_STYLE = "white-space:pre-wrap;background:#f4f4f4;padding:6px;margin:2px 0 8px 0"


def dot(state: str | None, color: str, title: str = "") -> str:
    """A small coloured circle for a state (the DAG list's recent runs)."""
    label = html.escape(f"{title} {state or 'none'}".strip())
    return f'<span style="{DOT_STYLE};background:{color}" title="{label}"></span>'


def pre(text: str) -> str:
    """Preformatted text (a log, a traceback, source code), escaped."""
    return f'<pre style="{PRE_STYLE}">{html.escape(text)}</pre>'


def root_of(extra: dict[str, Any]) -> str:
    """The dashboard's root path from Dask's template variables (``/`` without a prefix)."""
    prefix = str(extra.get("prefix") or "").strip("/")
    return f"/{prefix}/" if prefix else "/"


def frame(doc: Any, extra: dict[str, Any], title: str) -> None:
    """Draw ``doc`` in daskflow's page template, under Dask's navigation bar."""
    doc.title = f"daskflow: {title}"
    doc.template = _TEMPLATES.get_template("page.html")
    doc.template_variables.update(extra)
    doc.template_variables["daskflow_root"] = root_of(extra)


def dag_page(doc: Any, extra: dict[str, Any], page: str) -> str | None:
    """Frame a page about one DAG (``?dag_id=`` of the URL) and return the DAG id; without
    one, the page only points to the DAG list and this returns ``None``."""
    from bokeh.models import Div

    from daskflow.dashboard.style import query_arg

    dag_id = query_arg(doc, "dag_id")
    frame(doc, extra, f"{dag_id or '?'} {page.lower()}")
    if not dag_id:
        doc.add_root(Div(text=f"<h2>{page}</h2>Open a DAG from the "
                              + link("/daskflow/dags", "DAG list") + "."))
    return dag_id


def status_line() -> tuple[Any, Callable[[str], None]]:
    """A line for what went wrong (e.g. an unreachable store), and the function that sets it."""
    from bokeh.models import Div

    div = Div(text="")

    def report(text: str) -> None:
        shown = f'<b style="color:#c00">{html.escape(text)}</b>' if text else ""
        if div.text != shown:
            div.text = shown

    return div, report
