"""One task instance: its attempts, rendered templates, XCom copy and log, and the
Dask side of it: what the scheduler holds now for the task's key prefix, with
links into Dask's task stream, profile and memory views.

The log is shown as stored: masked on the worker before it was recorded
(``secrets/masking.py``), so a secret never reaches the store or this page.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, DataTable, Div, Select, TableColumn
from dask.utils import key_split

from daskflow.dashboard import actions_panel, layout, live
from daskflow.dashboard.store_access import dashboard_store
from daskflow.dashboard.style import query_arg, state_color
from daskflow.execution.keys import task_key
from daskflow.store.records import AttemptRecord, TaskInstanceRecord, XComRecord

PATH = "/daskflow/task"
TITLE = "Task instance"
ATTEMPT_COLUMNS = ("try_number", "state", "start", "end", "duration", "worker", "hostname",
                   "error")
#: States after which an instance changes only if someone clears or marks it.
FINISHED = ("success", "failed", "skipped", "upstream_failed", "removed")


def _time(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} s"


def key_prefix(dag_id: str, task_id: str) -> str:
    """The prefix Dask groups this task's keys under (its task stream colour, its profile).

    >>> key_prefix("etl", "extract")
    'etl.extract'
    """
    return key_split(task_key(dag_id, task_id, "0"))


@dataclass(frozen=True)
class InstanceData:
    instance: TaskInstanceRecord | None
    attempts: list[AttemptRecord]
    xcoms: list[XComRecord]
    log: str | None
    run_state: str | None


def attempt_columns(attempts: list[AttemptRecord]) -> dict[str, list[Any]]:
    """The attempts table: one row per try, first try first."""
    data: dict[str, list[Any]] = {name: [] for name in ATTEMPT_COLUMNS}
    for a in attempts:
        data["try_number"].append(a.try_number)
        data["state"].append(a.state or "none")
        data["start"].append(_time(a.start_date))
        data["end"].append(_time(a.end_date))
        data["duration"].append(_seconds(a.duration))
        data["worker"].append(a.worker or "")
        data["hostname"].append(a.hostname or "")
        data["error"].append((a.error or "").splitlines()[-1:][0] if a.error else "")
    return data


def summary_html(ti: TaskInstanceRecord, run_state: str | None) -> str:
    """The instance's state, tries, timing and placement in a few lines."""
    dot = layout.dot(ti.state, state_color(ti.state))
    rows = [
        ("State", f"{dot}<b>{html.escape(ti.state or 'none')}</b>"),
        ("Try", f"{ti.try_number} of {ti.max_tries + 1}"),
        ("Operator", html.escape(ti.operator or "")),
        ("Started", _time(ti.start_date)), ("Ended", _time(ti.end_date)),
        ("Duration", _seconds(ti.duration)),
        ("Worker", html.escape(ti.worker or "")), ("Host", html.escape(ti.hostname or "")),
        ("Pool", f"{html.escape(ti.pool)} ({ti.pool_slots} slot(s))"),
        ("Run state", html.escape(run_state or "?")),
    ]
    if ti.next_try_at is not None:
        rows.append(("Next try at", _time(ti.next_try_at)))
    cells = "".join(f"<tr><th align=left>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def fields_html(title: str, values: dict[str, Any] | None) -> str:
    """A heading and one ``<pre>`` per field (rendered templates, XComs)."""
    if not values:
        return f"<h3>{title}</h3><i>none</i>"
    parts = [f"<h3>{title}</h3>"]
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=1, default=str)
        parts.append(f"<b>{html.escape(str(name))}</b>{layout.pre(text)}")
    return "".join(parts)


class Instance:
    """The store's view of the instance: summary, attempts, templates, XComs, log."""

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1,
                 url: str | None = None) -> None:
        self.key = (dag_id, run_id, task_id, map_index)
        self.url = url
        self.summary = Div(text="", sizing_mode="stretch_width")
        self.attempts = ColumnDataSource({name: [] for name in ATTEMPT_COLUMNS},
                                         name="attempts")
        self.table = DataTable(source=self.attempts, index_position=None, height=150,
                               sizing_mode="stretch_width", columns=[
            TableColumn(field=name, title=name.replace("_", " ").capitalize())
            for name in ATTEMPT_COLUMNS])
        self.templates = Div(text="", sizing_mode="stretch_width")
        self.xcoms = Div(text="", sizing_mode="stretch_width")
        self.try_select = Select(title="Log of try", value="latest", options=["latest"],
                                 width=160)
        self.log = Div(text="", sizing_mode="stretch_width")
        self.data: InstanceData | None = None

    def read(self) -> InstanceData:
        store = dashboard_store(self.url)
        dag_id, run_id, task_id, map_index = self.key
        chosen = self.try_select.value
        run = store.get_dag_run(dag_id, run_id)
        return InstanceData(
            store.get_task_instance(*self.key), store.list_attempts(*self.key),
            [x for x in store.list_xcoms(dag_id, run_id, task_id) if x.map_index == map_index],
            store.get_log(*self.key, try_number=None if chosen == "latest" else int(chosen)),
            None if run is None else run.state)

    def finished(self) -> bool:
        ti = self.data.instance if self.data else None
        return ti is not None and ti.state in FINISHED

    def show(self, data: InstanceData) -> None:
        if data == self.data:
            return
        self.data = data
        ti = data.instance
        if ti is None:
            self.summary.text = "<b>No such task instance in the metadata store.</b>"
            return
        self.summary.text = summary_html(ti, data.run_state)
        self.attempts.data = attempt_columns(data.attempts)
        self.table.height = 30 + 26 * max(len(data.attempts), 1)
        self.templates.text = fields_html("Rendered templates", dict(ti.rendered_fields or {}))
        self.xcoms.text = fields_html("XCom", {x.key: x.value for x in data.xcoms})
        tries = [str(a.try_number) for a in data.attempts]
        self.try_select.options = ["latest", *tries]
        self.log.text = (f"<h3>Log</h3>{layout.pre(data.log)}" if data.log
                         else "<h3>Log</h3><i>no log recorded yet</i>")


def dask_side_html(scheduler: Any, prefix: str) -> str:
    """What the Dask scheduler holds now for the prefix, and links to Dask's own views."""
    links = " · ".join(f'<a href="{url}">{name}</a>' for url, name in (
        ("individual-task-stream", "Task stream"),
        (f"profile?key={prefix}", f"Profile of {html.escape(prefix)}"),
        ("individual-memory-by-key", "Memory by key"),
        ("individual-progress", "Progress"),
        ("individual-compute-time-per-key", "Compute time per key")))
    task_prefix = getattr(scheduler, "task_prefixes", {}).get(prefix)
    counts: dict[str, int] = {}
    held = 0
    for group in getattr(task_prefix, "groups", ()):
        for state, n in group.states.items():
            if n:
                counts[state] = counts.get(state, 0) + n
        held += group.nbytes_total
    if not counts:
        now = "no keys of this prefix on the cluster now (they are released when a run ends)"
    else:
        states = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
        now = f"keys on the cluster now: {html.escape(states)}; {held:,} bytes in memory"
        average = task_prefix.duration_average
        if average is not None and average >= 0:
            now += f" · average duration {average:.3f} s"
    return (f"<h3>On the Dask cluster: <code>{html.escape(prefix)}</code></h3>"
            f"{now}<br>{links}")


def document(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Bokeh document of one task instance (``?dag_id&run_id&task_id[&map_index]``)."""
    dag_id, run_id = query_arg(doc, "dag_id"), query_arg(doc, "run_id")
    task_id = query_arg(doc, "task_id")
    try:
        map_index = int(query_arg(doc, "map_index", "-1") or -1)
    except ValueError:
        map_index = -1
    name = f"{task_id}" if map_index < 0 else f"{task_id}[{map_index}]"
    layout.frame(doc, extra, f"{dag_id} {name}")
    if not (dag_id and run_id and task_id):
        doc.add_root(Div(text="<h2>Task instance</h2>Open one from a DAG's grid: "
                              + layout.link("/daskflow/dags", "DAG list") + "."))
        return
    heading = Div(text=(f"<h2>{html.escape(name)}</h2>DAG "
                        + layout.link("/daskflow/grid", dag_id, dag_id=dag_id)
                        + f" · run <b>{html.escape(run_id)}</b> · "
                        + layout.link("/daskflow/code", "Code", dag_id=dag_id, run_id=run_id)
                        + " · " + layout.link("/daskflow/gantt", "Gantt", dag_id=dag_id,
                                              run_id=run_id)))
    instance = Instance(dag_id, run_id, task_id, map_index)
    prefix = key_prefix(dag_id, task_id)
    dask_side = Div(text=dask_side_html(scheduler, prefix), sizing_mode="stretch_width")
    status, report = layout.status_line()

    def show_dask_side() -> None:
        text = dask_side_html(scheduler, prefix)
        if text != dask_side.text:
            dask_side.text = text

    instance.try_select.on_change("value", lambda attr, old, new: live.read_then_show(
        doc, instance.read, instance.show))
    doc.add_root(column(heading, status, instance.summary,
                        actions_panel.for_task_instance(doc, dag_id, run_id, task_id, map_index),
                        Div(text="<h3>Attempts</h3>"), instance.table, dask_side,
                        instance.templates, instance.xcoms, instance.try_select, instance.log,
                        sizing_mode="stretch_width"))
    live.keep_fresh(doc, [instance], report=report)
    doc.add_periodic_callback(show_dask_side, live.refresh_interval_ms())
