"""The DAG list: every DAG with its schedule, pause flag, owner, tags, recent runs
and next run, and the files that failed to import with their tracebacks.

It is also the page the navigation bar's "daskflow" entry opens (``/daskflow``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, DataTable, Div, HTMLTemplateFormatter, TableColumn

from daskflow.dashboard import layout, live
from daskflow.dashboard.store_access import dashboard_store
from daskflow.dashboard.style import state_color
from daskflow.store.overview import recent_run_states
from daskflow.store.records import DagRecord, ImportErrorRecord

PATH = "/daskflow/dags"
TITLE = "DAGs"
#: How many of each DAG's newest runs the list shows as dots.
RUNS_SHOWN = 10
COLUMNS = ("dag_id", "link", "schedule", "paused", "owner", "tags", "runs", "next_run")


def _time(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def dag_rows(dags: list[DagRecord], runs: dict[str, list[tuple[str, str]]]
             ) -> dict[str, list[Any]]:
    """The table's columns: one row per active DAG, in ``dag_id`` order."""
    data: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for dag in dags:
        if not dag.is_active:
            continue
        recent = runs.get(dag.dag_id, [])
        data["dag_id"].append(dag.dag_id)
        data["link"].append(layout.link("/daskflow/grid", dag.dag_id, dag_id=dag.dag_id))
        data["schedule"].append(dag.schedule or "None")
        data["paused"].append("paused" if dag.is_paused else "active")
        data["owner"].append(dag.owner or "")
        data["tags"].append(", ".join(dag.tags))
        data["runs"].append("".join(layout.dot(state, state_color(state), run_id)
                                    for run_id, state in recent))
        data["next_run"].append(_time(dag.next_dagrun))
    return data


def import_errors_html(errors: list[ImportErrorRecord]) -> str:
    """Each failing file with its traceback folded under it."""
    if not errors:
        return ""
    parts = [f"<h3>Import errors ({len(errors)})</h3>"]
    for error in errors:
        parts.append(f"<details open><summary><b>{html.escape(error.filename)}</b> "
                     f"({_time(error.timestamp)})</summary>"
                     f"{layout.pre(error.stacktrace)}</details>")
    return "".join(parts)


@dataclass
class DagList:
    """The table of DAGs; its ``source`` holds one row per active DAG."""

    url: str | None = None

    def __post_init__(self) -> None:
        self.source = ColumnDataSource({name: [] for name in COLUMNS}, name="dags")
        html_cell = HTMLTemplateFormatter(template="<%= value %>")
        columns = [
            TableColumn(field="link", title="DAG", formatter=html_cell, width=220),
            TableColumn(field="schedule", title="Schedule", width=140),
            TableColumn(field="paused", title="State", width=70),
            TableColumn(field="owner", title="Owner", width=90),
            TableColumn(field="tags", title="Tags", width=140),
            TableColumn(field="runs", title=f"Last {RUNS_SHOWN} runs", formatter=html_cell,
                        width=180),
            TableColumn(field="next_run", title="Next run", width=150),
        ]
        self.table = DataTable(source=self.source, columns=columns, index_position=None,
                               sizing_mode="stretch_width", height=66, row_height=26)

    def read(self) -> dict[str, list[Any]]:
        store = dashboard_store(self.url)
        return dag_rows(store.list_dags(), recent_run_states(store, RUNS_SHOWN))

    def show(self, data: dict[str, list[Any]]) -> None:
        if data != dict(self.source.data):
            self.source.data = data
            self.table.height = min(40 + 26 * len(data["dag_id"]), 600)


@dataclass
class ImportErrors:
    """The files that failed to import; empty when every file imports."""

    url: str | None = None

    def __post_init__(self) -> None:
        self.div = Div(text="", sizing_mode="stretch_width")

    def read(self) -> str:
        return import_errors_html(dashboard_store(self.url).list_import_errors())

    def show(self, data: str) -> None:
        if data != self.div.text:
            self.div.text = data


def document(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Bokeh document of the DAG list."""
    dags, errors = DagList(), ImportErrors()
    status, report = layout.status_line()
    heading = Div(text="<h2>DAGs</h2>")
    doc.add_root(column(heading, status, dags.table, errors.div, sizing_mode="stretch_width"))
    layout.frame(doc, extra, TITLE)
    live.keep_fresh(doc, [dags, errors], report=report)

