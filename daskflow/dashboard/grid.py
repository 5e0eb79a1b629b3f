"""The grid of one DAG: its newest runs (columns, newest first) by its tasks (rows).

Each cell is a task in a run, coloured by state; a mapped task is one cell
with its counts per state, and clicking it expands it into its instances
below the grid. Clicking an unmapped cell opens its task instance page;
clicking a run's header cell shows the run with links to its graph, Gantt
chart and code. The cells come from ``grid_reader.py`` as numbers and are
drawn by one glyph, so a DAG of 500 tasks and 100 runs, or a mapping of
10,000 instances, stays one figure the browser draws at once.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    DataTable,
    Div,
    FixedTicker,
    HoverTool,
    HTMLTemplateFormatter,
    LinearColorMapper,
    PanTool,
    Range1d,
    TableColumn,
    TapTool,
    WheelPanTool,
)
from bokeh.plotting import figure
from bokeh.transform import transform

from daskflow import config
from daskflow.dashboard import actions_panel, layout, live
from daskflow.dashboard.grid_model import (
    CELL_COLUMNS,
    PALETTE,
    RUN_COLUMNS,
    STATE_NAMES,
    same_columns,
)
from daskflow.dashboard.grid_reader import GridData, GridReader
from daskflow.dashboard.store_access import dashboard_store
from daskflow.dashboard.style import STATE_COLORS, state_color
from daskflow.store.overview import instances_in_state

PATH = "/daskflow/grid"
TITLE = "Grid"
CELL_PX = 18
#: Rows drawn at once; more tasks scroll inside the grid (mouse wheel or drag), which keeps
#: the canvas small: a 500-task grid drawn full height is a canvas the browser repaints slowly.
ROWS_SHOWN = 40
#: Instances listed when a mapped cell is expanded (its counts cover all of them).
EXPANDED_LIMIT = 1000


def _run_links(dag_id: str, run_id: str) -> str:
    return " · ".join(layout.link(path, name, dag_id=dag_id, run_id=run_id) for path, name in
                      (("/daskflow/graph", "Graph"), ("/daskflow/gantt", "Gantt"),
                       ("/daskflow/code", "Code")))


#: Reads a column of a source in BokehJS, whichever way the version stores columns.
_COLUMN_JS = "const col = (s, k) => (s.data instanceof Map ? s.data.get(k) : s.data[k]);"


def _lookup(source: ColumnDataSource, column: str) -> CustomJSHover:
    return CustomJSHover(args={"source": source}, code=_COLUMN_JS + f"""
        const values = col(source, "{column}");
        return (value >= 0 && values && value < values.length) ? String(values[value]) : "";
    """)


@dataclass
class RunGrid:
    """The runs x tasks figure. ``cells`` holds numbers (run ``x``, task row ``y``, state
    code, tries, mapped, ``detail``); ``tasks``, ``runs`` and ``mapped`` hold the names."""

    dag_id: str
    url: str | None = None
    runs_shown: int = field(default_factory=lambda: int(config.get("dashboard.recent-runs", 25)))

    def __post_init__(self) -> None:
        self.reader = GridReader(self.dag_id, self.runs_shown, self.url)
        self.cells = ColumnDataSource({name: [] for name in CELL_COLUMNS}, name="grid-cells")
        self.tasks = ColumnDataSource({"task_id": []}, name="grid-tasks")
        self.runs = ColumnDataSource({name: [] for name in (*RUN_COLUMNS, "row")},
                                     name="grid-runs")
        self.mapped = ColumnDataSource({"counts": []}, name="grid-mapped")
        self.states = ColumnDataSource({"name": list(STATE_NAMES)}, name="grid-states")
        self.header = Div(text="", sizing_mode="stretch_width")
        x_range = Range1d(-0.5, 0.5)
        self.run_figure = figure(x_range=x_range, y_range=Range1d(-0.5, 0.5), height=60,
                                 width=400, toolbar_location=None, tools="")
        runs = self.run_figure.rect("x", "row", 0.9, 0.9, source=self.runs, color="color")
        self.run_figure.yaxis.ticker = FixedTicker(ticks=[0])
        self.run_figure.yaxis.major_label_overrides = {0: "runs"}
        self.cell_figure = figure(x_range=x_range, y_range=Range1d(0.5, -0.5), height=100,
                                  width=400, toolbar_location=None, tools="")
        scroll = WheelPanTool(dimension="height")
        drag = PanTool(dimensions="height")
        self.cell_figure.add_tools(scroll, drag)
        self.cell_figure.toolbar.active_scroll = scroll
        self.cell_figure.toolbar.active_drag = drag
        colors = LinearColorMapper(palette=list(PALETTE), low=-0.5, high=len(PALETTE) - 0.5)
        cells = self.cell_figure.rect("x", "y", 0.9, 0.9, source=self.cells, line_color=None,
                                      fill_color=transform("state", colors))
        for renderer in (cells, runs):  # a click selects a cell: every cell keeps its colour
            renderer.selection_glyph = None
            renderer.nonselection_glyph = None
        for fig in (self.run_figure, self.cell_figure):
            fig.xaxis.visible = False
            fig.grid.visible = False
            fig.outline_line_color = None
            fig.min_border_left = 160
        self.run_figure.add_tools(TapTool(), HoverTool(tooltips=[
            ("run", "@run_id"), ("state", "@state"), ("logical date", "@logical_date"),
            ("type", "@run_type")]))
        self.cell_figure.add_tools(TapTool(), HoverTool(
            tooltips=[("task", "@y{name}"), ("run", "@x{name}"), ("state", "@state{name}"),
                      ("instances", "@detail{name}"), ("tries", "@tries")],
            formatters={"@y": _lookup(self.tasks, "task_id"), "@x": _lookup(self.runs, "run_id"),
                        "@state": _lookup(self.states, "name"),
                        "@detail": _lookup(self.mapped, "counts")}))
        # An unmapped cell opens its task instance; a mapped one expands (Python side).
        self.cells.selected.js_on_change("indices", CustomJS(
            args={"cells": self.cells, "tasks": self.tasks, "runs": self.runs,
                  "dag_id": self.dag_id},
            code=_COLUMN_JS + """
            const i = cells.selected.indices[0];
            if (i === undefined || col(cells, "mapped")[i]) { return; }
            const run = col(runs, "run_id")[col(cells, "x")[i]];
            const task = col(tasks, "task_id")[col(cells, "y")[i]];
            const e = encodeURIComponent;
            window.location.href =
                `daskflow/task?dag_id=${e(dag_id)}&run_id=${e(run)}&task_id=${e(task)}`;
        """))
        self.data: GridData | None = None

    def read(self) -> GridData:
        return self.reader.read()

    def show(self, data: GridData) -> None:
        old = self.data
        self.data = data
        if old is None or old.tasks != data.tasks:
            n = len(data.tasks)
            shown = max(1, min(n, ROWS_SHOWN))
            self.tasks.data = {"task_id": list(data.tasks)}
            y_range = self.cell_figure.y_range
            y_range.start, y_range.end = shown - 0.5, -0.5
            y_range.bounds = (-0.5, max(n, 1) - 0.5)
            self.cell_figure.yaxis.ticker = FixedTicker(ticks=list(range(n)))
            self.cell_figure.yaxis.major_label_overrides = dict(enumerate(data.tasks))
            self.cell_figure.height = 40 + CELL_PX * shown
        if old is None or old.runs != data.runs:
            width = max(len(data.runs["x"]), 1)
            self.run_figure.x_range.start, self.run_figure.x_range.end = -0.5, width - 0.5
            for fig in (self.run_figure, self.cell_figure):
                fig.width = 180 + CELL_PX * width
            self.runs.data = {**data.runs, "row": [0] * len(data.runs["x"])}
        if old is None or old.mapped != data.mapped:
            self.mapped.data = data.mapped
        if old is None or not same_columns(old.cells, data.cells):
            self.cells.data = data.cells
        header = self._header(data)
        if header != self.header.text:
            self.header.text = header

    def cell(self, index: int) -> tuple[str, str, bool, str]:
        """``(run_id, task_id, mapped, counts)`` of the cell at ``index`` of ``cells``."""
        data = self.cells.data
        run_id = self.runs.data["run_id"][int(data["x"][index])]
        task_id = self.tasks.data["task_id"][int(data["y"][index])]
        detail = int(data["detail"][index])
        counts = self.mapped.data["counts"][detail] if detail >= 0 else ""
        return run_id, task_id, detail >= 0, counts

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
        if not new:
            return
        run_id, task_id, mapped, summary = self.grid.cell(new[0])
        if not mapped:
            return
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
    return " ".join(layout.dot(state, state_color(state)) + html.escape(state or "none")
                    for state in STATE_COLORS)


def document(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Bokeh document of one DAG's grid (``?dag_id=``)."""
    dag_id = layout.dag_page(doc, extra, "Grid")
    if not dag_id:
        return
    grid = RunGrid(dag_id)
    details = Details(grid, doc)
    status, report = layout.status_line()
    doc.add_root(column(grid.header, status, actions_panel.for_dag(doc, dag_id),
                        Div(text=legend_html()), grid.run_figure, grid.cell_figure,
                        details.div, details.table, sizing_mode="stretch_width"))
    live.keep_fresh(doc, [grid], report=report)


