"""The Graph page: a DAG's tasks and edges left to right, coloured by one run's states.

``/daskflow/graph?dag_id=...[&run_id=...]``. The shape is the stored DAG
version the run was created from (``run_reads.py``); where boxes go and
which state a box shows is decided in ``graph_layout.py``. Task groups start
collapsed (one box each) and open from the checkboxes above the graph; a
mapped task is one box with its instances counted per state. Without a
``run_id`` the page shows the newest run and follows newer ones as they start.
Clicking a task opens its task-instance page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from bokeh.layouts import column
from bokeh.models import (
    CheckboxGroup,
    ColumnDataSource,
    Div,
    HoverTool,
    OpenURL,
    Select,
    TapTool,
)
from bokeh.plotting import figure

from daskflow.dashboard import layout as page_layout
from daskflow.dashboard import live, run_reads
from daskflow.dashboard.graph_layout import Layout, layout, summary_state
from daskflow.dashboard.store_access import dashboard_store
from daskflow.dashboard.style import query_arg, state_color
from daskflow.store.records import DagRunRecord

PATH = "/daskflow/graph"
TITLE = "Graph"

#: Data units between two columns and two rows; a box is this much smaller.
COLUMN_STEP, ROW_STEP, BOX_WIDTH, BOX_HEIGHT = 1.0, 1.0, 0.8, 0.6
LABEL_CHARS = 22
#: Where a click on a task leads (the task-instance page).
TASK_PAGE = "/daskflow/task"
NODE_COLUMNS = ("node_id", "label", "kind", "x", "y", "state", "color", "counts", "url")


@dataclass(frozen=True)
class GraphData:
    """One read of the store: what :meth:`GraphView.show` draws."""

    runs: list[DagRunRecord]
    run: DagRunRecord | None
    layout: Layout
    nodes: dict[str, list[Any]]
    edges: dict[str, list[Any]]


class GraphView:
    """The graph of one DAG for one run.

    ``nodes`` and ``edges`` are its data sources; ``run_select`` chooses the run
    and ``group_boxes`` the expanded task groups (both update the sources).
    A refresh is ``read()`` (the store, in any thread) then ``show(data)`` (the
    Bokeh models, on the page's loop); ``update()`` does both.
    """

    def __init__(self, store: Any, dag_id: str, run_id: str | None = None) -> None:
        self.store = store
        self.dag_id = dag_id
        #: The run asked for; ``None`` follows the newest run.
        self.run_id = run_id
        self.expanded: set[str] = set()
        self.run: DagRunRecord | None = None
        self.runs: list[DagRunRecord] = []
        self.layout = Layout()
        self.nodes = ColumnDataSource({name: [] for name in NODE_COLUMNS}, name="graph_nodes")
        self.edges = ColumnDataSource({"xs": [], "ys": []}, name="graph_edges")
        self.run_select = Select(title="Run", options=[], value="", width=420)
        self.group_boxes = CheckboxGroup(labels=[], active=[], inline=True)
        self._updating = False
        self._shown = False
        self.run_select.on_change("value", self._choose_run)
        self.group_boxes.on_change("active", self._toggle_groups)

    def read(self, force: bool = False) -> GraphData | None:
        """Read what to draw from the store (any thread: no Bokeh model is touched).

        ``None`` when nothing shown can have changed: the run shown has ended
        and no newer run replaces it (``live``); ``force`` reads anyway.
        """
        if self._shown and not force and not self.live():
            return None
        runs = run_reads.recent_runs(self.store, self.dag_id)
        run = self._run(runs)
        drawn = layout(run_reads.dag_tasks(self.store, self.dag_id, run), self.expanded)
        counts = (self.store.task_state_counts_by_task(self.dag_id, run.run_id)
                  if run is not None else {})
        return GraphData(runs, run, drawn, self._node_columns(drawn, counts, run),
                         _edge_columns(drawn))

    def show(self, data: GraphData | None) -> None:
        """Put ``data`` into the sources and widgets (on the page's loop); only changes."""
        if data is None:
            return
        self.runs, self.run, self.layout = data.runs, data.run, data.layout
        if self.nodes.data != data.nodes:
            self.nodes.data = data.nodes
        if self.edges.data != data.edges:
            self.edges.data = data.edges
        self._updating = True
        try:
            options = [(r.run_id, f"{r.run_id} ({r.state})") for r in data.runs]
            if self.run_select.options != options:
                self.run_select.options = options
            self.run_select.value = data.run.run_id if data.run else ""
            if self.group_boxes.labels != data.layout.groups:
                self.group_boxes.labels = list(data.layout.groups)
                self.group_boxes.active = [i for i, g in enumerate(data.layout.groups)
                                           if g in self.expanded]
        finally:
            self._updating = False
        self._shown = True

    def update(self, force: bool = False) -> None:
        """Read and show at once, on the calling thread."""
        self.show(self.read(force))

    def _choose_run(self, attr: str, old: Any, new: Any) -> None:
        if not self._updating:
            self.run_id = new or None
            self.update(force=True)

    def _toggle_groups(self, attr: str, old: Any, new: Any) -> None:
        if not self._updating:
            self.expanded = {self.group_boxes.labels[i] for i in new}
            self.update(force=True)

    def live(self) -> bool:
        """Whether the shown run can still change, or a newer run should replace it."""
        if run_reads.is_active(self.run):
            return True
        if self.run_id is not None:
            return self.run is None or self.run.run_id != self.run_id
        newest = run_reads.chosen_run(self.store, self.dag_id, None)
        return newest is not None and (self.run is None or newest.run_id != self.run.run_id)

    def _run(self, runs: list[DagRunRecord]) -> DagRunRecord | None:
        if self.run_id is None:
            return runs[0] if runs else None
        found = [r for r in runs if r.run_id == self.run_id]
        return found[0] if found else self.store.get_dag_run(self.dag_id, self.run_id)

    def _node_columns(self, drawn: Layout, counts: dict[str, dict[str, int]],
                      run: DagRunRecord | None) -> dict[str, list[Any]]:
        data: dict[str, list[Any]] = {name: [] for name in NODE_COLUMNS}
        for node in drawn.nodes:
            states: Counter[str] = Counter()
            for task_id in node.members:
                states.update(counts.get(task_id, {}))
            state = summary_state(_none_as_null(states)) if states else None
            kind = "group" if node.is_group else "mapped" if node.mapped else "task"
            data["node_id"].append(node.node_id)
            size = len(node.members) if kind == "group" else sum(states.values())
            data["label"].append(_label(node.node_id, kind, size))
            data["kind"].append(kind)
            data["x"].append(node.column * COLUMN_STEP)
            data["y"].append(-node.row * ROW_STEP)
            data["state"].append(state or "none")
            data["color"].append(state_color(state))
            data["counts"].append(_counts_text(states) if kind != "task" else state or "none")
            data["url"].append(self._task_url(node.node_id, run) if kind != "group" else "")
        return data

    def _task_url(self, task_id: str, run: DagRunRecord | None) -> str:
        """The task-instance page, relative to the dashboard's root (pages set ``<base>``)."""
        if run is None:
            return ""
        query = urlencode({"dag_id": self.dag_id, "run_id": run.run_id, "task_id": task_id})
        return f"{TASK_PAGE.lstrip('/')}?{query}"


def _edge_columns(drawn: Layout) -> dict[str, list[Any]]:
    where = {n.node_id: (n.column * COLUMN_STEP, -n.row * ROW_STEP) for n in drawn.nodes}
    xs, ys = [], []
    for upstream, downstream in drawn.edges:
        (x0, y0), (x1, y1) = where[upstream], where[downstream]
        xs.append([x0 + BOX_WIDTH / 2, x1 - BOX_WIDTH / 2])
        ys.append([y0, y1])
    return {"xs": xs, "ys": ys}


def _none_as_null(states: Counter[str]) -> list[str | None]:
    return [None if state == "none" else state for state in states]


def _counts_text(states: Counter[str]) -> str:
    """``'3 success, 1 failed'``: how many instances are in each state."""
    return ", ".join(f"{n} {state}" for state, n in states.most_common()) or "no instances"


def _label(node_id: str, kind: str, size: int) -> str:
    """The box's text: a group shows its task count, a mapped task its instance count."""
    text = node_id if len(node_id) <= LABEL_CHARS else "…" + node_id[-(LABEL_CHARS - 1):]
    if kind == "group":
        return f"▸ {text} ({size} tasks)"
    return f"{text} [{size}]" if kind == "mapped" else text


def graph_figure(view: GraphView) -> Any:
    """The Bokeh figure drawing ``view``'s sources; a click on a task opens its page."""
    fig = figure(height=420, sizing_mode="stretch_width", tools="pan,wheel_zoom,reset",
                 toolbar_location="above", match_aspect=False)
    fig.multi_line("xs", "ys", source=view.edges, line_color="#888888", line_width=1.5)
    boxes = fig.rect("x", "y", BOX_WIDTH, BOX_HEIGHT, source=view.nodes, fill_color="color",
                     line_color="#444444", fill_alpha=0.85)
    fig.text("x", "y", text="label", source=view.nodes, text_align="center",
             text_baseline="middle", text_font_size="11px")
    fig.add_tools(HoverTool(renderers=[boxes], tooltips=[
        ("", "@node_id"), ("state", "@state"), ("instances", "@counts")]))
    fig.add_tools(TapTool(renderers=[boxes], callback=OpenURL(url="@url", same_tab=True)))
    fig.axis.visible = False
    fig.grid.visible = False
    return fig


def document(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Graph page for ``?dag_id`` (and ``run_id``) of the URL."""
    dag_id = page_layout.dag_page(doc, extra, "Graph")
    if not dag_id:
        return
    view = GraphView(dashboard_store(), dag_id, query_arg(doc, "run_id"))
    view.update()
    if not view.layout.nodes:
        doc.add_root(Div(text=f"DAG {escape(dag_id)!r} has no stored version yet: has a "
                              "scheduler parsed its file?"))
        return
    header = Div(text=f"<h2>{escape(dag_id)}: graph</h2>"
                      + page_layout.link("/daskflow/grid", "grid", dag_id=dag_id))
    groups = Div(text="Task groups shown expanded:", visible=bool(view.layout.groups))
    status, report = page_layout.status_line()
    doc.add_root(column(header, status, view.run_select, groups, view.group_boxes,
                        graph_figure(view), sizing_mode="stretch_width"))
    live.keep_fresh(doc, [view], report=report)
