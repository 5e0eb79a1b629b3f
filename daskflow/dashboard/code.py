"""The source of a DAG: the version a run was created from (``?run_id=``), or the
newest stored version.

Runs record the DAG version they were made from, and the store keeps each
version's source, so an old run shows the code it ran even after the file
changed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from bokeh.layouts import column
from bokeh.models import Div

from daskflow.dashboard import layout, live
from daskflow.dashboard.store_access import dashboard_store
from daskflow.dashboard.style import query_arg
from daskflow.store.records import DagVersionRecord
from daskflow.store.store import Store

PATH = "/daskflow/code"
TITLE = "Code"


def version_for(store: Store, dag_id: str, run_id: str | None
                ) -> tuple[DagVersionRecord | None, str]:
    """The version to show and a sentence saying which one it is and why."""
    if run_id:
        run = store.get_dag_run(dag_id, run_id)
        if run is None:
            return None, f"DAG {dag_id} has no run {run_id} in the metadata store."
        if run.dag_version:
            version = store.get_dag_version(run.dag_version)
            if version is not None:
                return version, f"The version run {run_id} was created from."
        note = f"Run {run_id} recorded no stored version; showing the newest."
    else:
        note = "The newest stored version."
    versions = store.list_dag_versions(dag_id)
    if not versions:
        return None, f"The metadata store holds no version of DAG {dag_id}."
    return versions[0], note


def code_html(version: DagVersionRecord | None, note: str) -> str:
    if version is None:
        return f"<b>{html.escape(note)}</b>"
    created = version.created_at.strftime("%Y-%m-%d %H:%M:%S")
    return (f"{html.escape(note)}<br>Version <code>{html.escape(version.version_id)}</code> · "
            f"file <code>{html.escape(version.fileloc)}</code> · stored {created}"
            f"{layout.pre(version.source or '(no source recorded)')}")


@dataclass
class Source:
    """The DAG's source as of a run; ``div.text`` holds it."""

    dag_id: str
    run_id: str | None
    url: str | None = None

    def __post_init__(self) -> None:
        self.div = Div(text="", sizing_mode="stretch_width")

    def read(self) -> str:
        return code_html(*version_for(dashboard_store(self.url), self.dag_id, self.run_id))

    def show(self, data: str) -> None:
        if data != self.div.text:
            self.div.text = data


def document(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Bokeh document of a DAG's code (``?dag_id[&run_id]``)."""
    dag_id = layout.dag_page(doc, extra, "Code")
    if not dag_id:
        return
    run_id = query_arg(doc, "run_id")
    heading = Div(text=f"<h2>{html.escape(dag_id)}: code</h2>"
                       + layout.link("/daskflow/grid", "Grid", dag_id=dag_id))
    source = Source(dag_id, run_id)
    status, report = layout.status_line()
    doc.add_root(column(heading, status, source.div, sizing_mode="stretch_width"))
    live.read_then_show(doc, source.read, _shown(source, report))  # a version never changes


def _shown(source: Source, report: Any) -> Any:
    def show(data: Any) -> None:
        if isinstance(data, Exception):
            report(f"Cannot read the metadata store: {data}")
        else:
            source.show(data)
    return show
