"""The grid of one DAG: its newest runs (columns, newest first) by its tasks (rows).

Each cell is a task in a run, coloured by state; a mapped task is one cell
with its counts per state, and clicking it expands it into its instances
below the grid. Clicking an unmapped cell opens its task instance page;
clicking a run's header cell shows the run with links to its graph, Gantt
chart and code. The page reads grouped counts (``store/overview.py``), so a
DAG of 500 tasks and 100 runs, or a mapping of 10,000, costs one query and
one glyph.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    DataTable,
    Div,
    FactorRange,
    HoverTool,
    HTMLTemplateFormatter,
    Range1d,
    TableColumn,
    TapTool,
)
from bokeh.plotting import figure

from daskflow import config
from daskflow.dashboard import actions_panel, layout, live
from daskflow.dashboard.grid_model import (
    CELL_COLUMNS,
    RUN_COLUMNS,
    cell_columns,
    run_columns,
    task_order,
)
from daskflow.dashboard.store_access import dashboard_store
from daskflow.dashboard.style import query_arg, state_color
from daskflow.store.overview import instances_in_state, task_state_counts
from daskflow.store.records import DagRecord

PATH = "/daskflow/grid"
TITLE = "Grid"
CELL_PX = 18
#: Instances listed when a mapped cell is expanded (its counts cover all of them).
EXPANDED_LIMIT = 1000


@dataclass(frozen=True)
class GridData:
    dag: DagRecord | None
    tasks: list[str]
    runs: dict[str, list[Any]]
    cells: dict[str, list[Any]]


def read_grid(dag_id: str, runs_shown: int, url: str | None = None) -> GridData:
    """Everything the grid shows of ``dag_id``: three reads, whatever its size."""
    store = dashboard_store(url)
    runs = store.list_dag_runs(dag_id, limit=runs_shown)
    counts = task_state_counts(store, dag_id, [run.run_id for run in runs])
    versions = store.list_dag_versions(dag_id)
    structure = (versions[0].structure or {}) if versions else {}
    tasks = task_order(list(structure.get("tasks") or {}), counts)
    return GridData(store.get_dag(dag_id), tasks, run_columns(runs),
                    cell_columns(dag_id, runs, tasks, counts))


def _run_links(dag_id: str, run_id: str) -> str:
    return " · ".join(layout.link(path, name, dag_id=dag_id, run_id=run_id) for path, name in
                      (("/daskflow/graph", "Graph"), ("/daskflow/gantt", "Gantt"),
                       ("/daskflow/code", "Code")))


@dataclass
class RunGrid:
    """The runs x tasks figure; ``cells`` and ``runs`` are its sources."""

    dag_id: str
    url: str | None = None
    runs_shown: int = field(default_factory=lambda: int(config.get("dashboard.recent-runs", 25)))

    def __post_init__(self) -> None:
        self.cells = ColumnDataSource({name: [] for name in CELL_COLUMNS}, name="grid-cells")
        self.runs = ColumnDataSource({name: [] for name in (*RUN_COLUMNS, "state_row")},
                                     name="grid-runs")
        self.header = Div(text="", sizing_mode="stretch_width")
        x_range = Range1d(-0.5, 0.5)
        self.run_figure = figure(x_range=x_range, y_range=FactorRange("runs"), height=60,
                                 width=400, toolbar_location=None, tools="")
        self.run_figure.rect("x", "state_row", 0.9, 0.9, source=self.runs, color="color")
        self.cell_figure = figure(x_range=x_range, y_range=FactorRange(), height=100, width=400,
                                  toolbar_location=None, tools="")
        self.cell_figure.rect("x", "task_id", 0.9, 0.9, source=self.cells, color="color",
                              line_color="color")
        for fig in (self.run_figure, self.cell_figure):
            fig.xaxis.visible = False
            fig.grid.visible = False
            fig.outline_line_color = None
            fig.min_border_left = 160
        self.run_figure.add_tools(TapTool(), HoverTool(tooltips=[
            ("run", "@run_id"), ("state", "@state"), ("logical date", "@logical_date"),
            ("type", "@run_type")]))
        self.cell_figure.add_tools(TapTool(), HoverTool(tooltips=[
            ("task", "@task_id"), ("run", "@run_id"), ("state", "@state"),
            ("instances", "@counts"), ("tries", "@tries")]))
        # An unmapped cell opens its task instance; a mapped one expands (Python side).
        self.cells.selected.js_on_change("indices", CustomJS(args={"source": self.cells}, code="""
            const i = source.selected.indices[0];
            const url = i === undefined ? "" : source.data.url[i];
            if (url) { window.location.href = url; }
        """))
        self.data: GridData | None = None

    def read(self) -> GridData:
        return read_grid(self.dag_id, self.runs_shown, self.url)

    def show(self, data: GridData) -> None:
        if self.data == data:
            return
        self.data = data
        width = max(len(data.runs["x"]), 1)
        self.run_figure.x_range.start, self.run_figure.x_range.end = -0.5, width - 0.5
        self.cell_figure.y_range.factors = list(reversed(data.tasks))
        self.cell_figure.height = 40 + CELL_PX * len(data.tasks)
        for fig in (self.run_figure, self.cell_figure):
            fig.width = 180 + CELL_PX * width
        self.runs.data = {**data.runs, "state_row": ["runs"] * len(data.runs["x"])}
        self.cells.data = data.cells
        self.header.text = self._header(data)

    def _header(self, data: GridData) -> str:
        dag = data.dag
        parts = [f"<h2>{html.escape(self.dag_id)}</h2>"]
        if dag is not None:
            parts.append(f"Schedule <b>{html.escape(dag.schedule or 'None')}</b> · "
                         f"{'paused' if dag.is_paused else 'active'} · "
                         f"owner {html.escape(dag.owner or '-')} · "
                         f"{len(data.tasks)} tasks · {len(data.runs['x'])} runs shown · ")
        parts.append(layout.link("/daskflow/code", "Code", dag_id=self.dag_id) + " · "
                     + layout.link("/daskflow/graph", "Graph", dag_id=self.dag_id))
        if data.runs["run_id"]:
            newest = data.runs["run_id"][0]
            parts.append(f"<br>Newest run <b>{html.escape(newest)}</b> "
                         f"({html.escape(data.runs['state'][0])}): "
                         + _run_links(self.dag_id, newest))
        return "".join(parts)


class Details:
    """Below the grid: the run or mapped cell last clicked, expanded."""

    def __init__(self, grid: RunGrid, doc: Any, url: str | None = None) -> None:
        self.grid, self.doc, self.url = grid, doc, url
        self.div = Div(text="<i>Click a run's header cell, or a mapped task's cell, "
                            "to see it here; click any other cell to open it.</i>",
                       sizing_mode="stretch_width")
        self.instances = ColumnDataSource({"map_index": [], "state": [], "tries": [],
                                           "link": []}, name="mapped-instances")
        self.table = DataTable(source=self.instances, index_position=None, height=260,
                               visible=False, width=520, columns=[
            TableColumn(field="link", title="Instance",
                        formatter=HTMLTemplateFormatter(template="<%= value %>")),
            TableColumn(field="state", title="State"),
            TableColumn(field="tries", title="Tries")])
        grid.cells.selected.on_change("indices", self._cell_clicked)
        grid.runs.selected.on_change("indices", self._run_clicked)

    def _run_clicked(self, attr: str, old: list[int], new: list[int]) -> None:
        if not new:
            return
        data = self.grid.runs.data
        run_id, state = data["run_id"][new[0]], data["state"][new[0]]
        self.table.visible = False
        self.div.text = (f"<h3>Run {html.escape(run_id)}</h3>State <b>{html.escape(state)}</b>"
                         f" · logical date {html.escape(data['logical_date'][new[0]])} · "
                         + _run_links(self.grid.dag_id, run_id))

    def _cell_clicked(self, attr: str, old: list[int], new: list[int]) -> None:
        if not new or not self.grid.cells.data["mapped"][new[0]]:
            return
        data = self.grid.cells.data
        run_id, task_id = data["run_id"][new[0]], data["task_id"][new[0]]
        summary = data["counts"][new[0]]
        self.div.text = (f"<h3>{html.escape(task_id)} (mapped) in {html.escape(run_id)}</h3>"
                         f"{html.escape(summary)}")
        dag_id = self.grid.dag_id

        def read() -> list[tuple[int, str, int]]:
            return instances_in_state(dashboard_store(self.url), dag_id, run_id, task_id,
                                      EXPANDED_LIMIT)

        def show(rows: Any) -> None:
            if isinstance(rows, Exception):
                self.div.text += f"<br><b>Cannot read the instances: {html.escape(str(rows))}</b>"
                return
            self.instances.data = {
                "map_index": [r[0] for r in rows], "state": [r[1] for r in rows],
                "tries": [r[2] for r in rows],
                "link": [layout.link("/daskflow/task", f"{task_id}[{r[0]}]", dag_id=dag_id,
                                     run_id=run_id, task_id=task_id, map_index=r[0])
                         for r in rows]}
            self.table.visible = True

        live.read_then_show(self.doc, read, show)


def legend_html() -> str:
    """Which colour is which state."""
    from daskflow.dashboard.style import STATE_COLORS

    return " ".join(layout.dot(state, state_color(state)) + html.escape(state or "none")
                    for state in STATE_COLORS)


def document(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Bokeh document of one DAG's grid (``?dag_id=``)."""
    dag_id = query_arg(doc, "dag_id")
    layout.frame(doc, extra, f"{dag_id or '?'} grid")
    if not dag_id:
        doc.add_root(Div(text="<h2>Grid</h2>Open a DAG from the "
                              + layout.link("/daskflow/dags", "DAG list") + "."))
        return
    grid = RunGrid(dag_id)
    details = Details(grid, doc)
    status, report = layout.status_line()
    doc.add_root(column(grid.header, status, actions_panel.for_dag(doc, dag_id),
                        Div(text=legend_html()), grid.run_figure, grid.cell_figure,
                        details.div, details.table, sizing_mode="stretch_width"))
    live.keep_fresh(doc, [grid], report=report)


