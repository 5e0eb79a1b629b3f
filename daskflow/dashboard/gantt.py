"""The Gantt page: every try of one run as a bar, queued part then running part, by worker.

``/daskflow/gantt?dag_id=...&run_id=...`` (without ``run_id``: the newest
run). One row per task instance, in the DAG's order, mapped instances as
``task[i]``; each try on its row is a light bar from when Dask could first
run it (``task_attempt.queued_date``, stamped by daskflow's scheduler plugin)
to its start, then a bar in its state's colour to its end, labelled with the
Dask worker that ran it. Tries end up in ``task_attempt`` when they end, so a
try still running is drawn from its task instance, up to now
(``Store.run_try_spans`` reads both, only the columns drawn).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, DatetimeTickFormatter, Div, FactorRange, HoverTool
from bokeh.plotting import figure

from daskflow.dashboard import layout as page_layout
from daskflow.dashboard import live, run_reads
from daskflow.dashboard.graph_layout import summary_state
from daskflow.dashboard.store_access import dashboard_store
from daskflow.dashboard.style import STATE_COLORS, query_arg, state_color
from daskflow.store.monitoring import TrySpan
from daskflow.store.records import DagRunRecord

PATH = "/daskflow/gantt"
TITLE = "Gantt"

BAR_COLUMNS = ("row", "try_number", "state", "color", "worker", "queued", "start", "end",
               "queued_seconds", "running_seconds")
QUEUED_COLOR = STATE_COLORS["queued"]
ROW_PIXELS = 22
#: A mapped task with more instances than this is drawn as one row (``_fold_wide_mappings``).
MAPPED_ROWS = 100
LEGEND = ("<p>Each try: <b>light grey</b> while queued (Dask could run it: its inputs were "
          "ready, or its retry was due), then <b>its state's colour</b> while running, "
          "followed by the Dask worker that ran it.</p>")


@dataclass(frozen=True)
class Bar:
    """One try as the page draws it."""

    row: str
    try_number: int
    state: str
    worker: str
    queued: datetime
    start: datetime
    end: datetime


@dataclass(frozen=True)
class GanttData:
    """One read of the store: what :meth:`GanttView.show` draws."""

    run: DagRunRecord | None
    bars: dict[str, list[Any]]
    #: Row names, bottom row first (Bokeh's order).
    rows: list[str]


class GanttView:
    """The tries of one run; ``bars`` is its data source and ``rows`` its y axis."""

    def __init__(self, store: Any, dag_id: str, run_id: str | None = None) -> None:
        self.store = store
        self.dag_id = dag_id
        self.run_id = run_id
        self.run: DagRunRecord | None = None
        self.bars = ColumnDataSource({name: [] for name in BAR_COLUMNS}, name="gantt_bars")
        self.rows = FactorRange(factors=[])
        self._shown = False

    def read(self, now: datetime | None = None, force: bool = False) -> GanttData | None:
        """Read the run's tries from the store (any thread: no Bokeh model is touched).

        ``None`` when nothing shown can have changed (see ``live``).
        """
        if self._shown and not force and not self.live():
            return None
        now = now or datetime.now(UTC)
        run = run_reads.chosen_run(self.store, self.dag_id, self.run_id)
        if run is None:
            return GanttData(None, _columns([]), [])
        bars = tries_as_bars(self.store.run_try_spans(self.dag_id, run.run_id), now)
        order = list(run_reads.dag_tasks(self.store, self.dag_id, run))
        rows = _row_order({b.row for b in bars}, order)
        return GanttData(run, _columns(bars), rows[::-1])  # the first task on top

    def show(self, data: GanttData | None) -> None:
        """Put ``data`` into the source and the rows (on the page's loop); only changes."""
        if data is None:
            return
        self.run = data.run
        if list(self.rows.factors) != data.rows:
            self.rows.factors = data.rows
        if self.bars.data != data.bars:
            self.bars.data = data.bars
        self._shown = True

    def update(self, now: datetime | None = None) -> None:
        """Read and show at once, on the calling thread."""
        self.show(self.read(now))

    def live(self) -> bool:
        if run_reads.is_active(self.run):
            return True
        if self.run_id is not None:
            return False
        newest = run_reads.chosen_run(self.store, self.dag_id, None)
        return newest is not None and (self.run is None or newest.run_id != self.run.run_id)


def tries_as_bars(spans: list[TrySpan], now: datetime) -> list[Bar]:
    """A bar per ended try, plus one per try still running (its end: ``now``).

    A try without a recorded queued moment has no queued part.
    """
    ended = {(t.task_id, t.map_index, t.try_number) for t in spans if t.end is not None}
    bars = []
    for t in spans:
        if t.end is None and (t.task_id, t.map_index, t.try_number) in ended:
            continue  # the instance row still says running, but the try's end is recorded
        end = t.end if t.end is not None else max(now, t.start)
        state = (t.state or "none") if t.end is not None else "running"
        bars.append(Bar(_row(t.task_id, t.map_index), t.try_number, state, _short(t.worker),
                        min(t.queued or t.start, t.start), t.start, end))
    return _fold_wide_mappings(bars)


def _fold_wide_mappings(bars: list[Bar]) -> list[Bar]:
    """A mapped task of more than ``MAPPED_ROWS`` instances as one row ``task[×n]``.

    Its tries of one number become one bar from the first queued moment to the
    last end, in the state that matters most (``summary_state``), labelled with
    how many workers ran them: 10,000 rows would neither draw fast nor read.
    """
    by_task: dict[str, list[Bar]] = {}
    for bar in bars:
        by_task.setdefault(bar.row.partition("[")[0], []).append(bar)
    folded = []
    for task_id, task_bars in by_task.items():
        instances = {b.row for b in task_bars}
        if len(instances) <= MAPPED_ROWS:
            folded.extend(task_bars)
            continue
        row = f"{task_id}[×{len(instances)}]"
        for try_number in sorted({b.try_number for b in task_bars}):
            tries = [b for b in task_bars if b.try_number == try_number]
            workers = {b.worker for b in tries}
            folded.append(Bar(
                row, try_number, summary_state(b.state for b in tries) or "none",
                workers.pop() if len(workers) == 1 else f"{len(workers)} workers",
                min(b.queued for b in tries), min(b.start for b in tries),
                max(b.end for b in tries)))
    return folded


def _row(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def _short(worker: str | None) -> str:
    """A worker address without its protocol: what Dask's worker table shows."""
    return (worker or "?").split("://", 1)[-1]


def _row_order(rows: set[str], task_order: list[str]) -> list[str]:
    """Rows by the DAG's task order, then map index; tasks the DAG lacks last."""
    rank = {task_id: i for i, task_id in enumerate(task_order)}

    def key(row: str) -> tuple[int, str, int]:
        task_id, _, index = row.partition("[")
        number = index[:-1]
        return (rank.get(task_id, len(rank)), task_id, int(number) if number.isdigit() else -1)

    return sorted(rows, key=key)


def _columns(bars: list[Bar]) -> dict[str, list[Any]]:
    return {
        "row": [b.row for b in bars],
        "try_number": [b.try_number for b in bars],
        "state": [b.state for b in bars],
        "color": [state_color(b.state) for b in bars],
        "worker": [b.worker for b in bars],
        "queued": [b.queued for b in bars],
        "start": [b.start for b in bars],
        "end": [b.end for b in bars],
        "queued_seconds": [(b.start - b.queued).total_seconds() for b in bars],
        "running_seconds": [(b.end - b.start).total_seconds() for b in bars],
    }


def gantt_figure(view: GanttView) -> Any:
    """The bars of ``view`` on a time axis, the worker written after each bar."""
    rows = max(len(view.rows.factors), 4)
    fig = figure(y_range=view.rows, x_axis_type="datetime", height=80 + rows * ROW_PIXELS,
                 sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset",
                 toolbar_location="above")
    fig.hbar(y="row", left="queued", right="start", height=0.6, source=view.bars,
             fill_color=QUEUED_COLOR, fill_alpha=0.35, line_color=None)
    running = fig.hbar(y="row", left="start", right="end", height=0.6, source=view.bars,
                       fill_color="color", line_color="#444444")
    fig.text(x="end", y="row", text="worker", source=view.bars, x_offset=4,
             text_baseline="middle", text_font_size="10px")
    fig.add_tools(HoverTool(renderers=[running], tooltips=[
        ("", "@row try @try_number"), ("state", "@state"), ("worker", "@worker"),
        ("queued", "@queued_seconds{0.000} s"), ("running", "@running_seconds{0.000} s")]))
    fig.ygrid.grid_line_color = None
    fig.x_range.range_padding = 0.25  # room for the worker written after the last bar
    fig.xaxis.formatter = DatetimeTickFormatter(
        milliseconds="%H:%M:%S.%3N", seconds="%H:%M:%S", minsec="%H:%M:%S",
        minutes="%H:%M", hourmin="%H:%M", hours="%H:%M", context=None)
    return fig


def document(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Gantt page for ``?dag_id`` and ``run_id`` of the URL."""
    dag_id = page_layout.dag_page(doc, extra, "Gantt")
    if not dag_id:
        return
    view = GanttView(dashboard_store(), dag_id, query_arg(doc, "run_id"))
    view.update()
    if view.run is None:
        doc.add_root(Div(text=f"DAG {escape(dag_id)!r} has no such run in the metadata store."))
        return
    links = (page_layout.link("/daskflow/grid", "grid", dag_id=dag_id) + " · "
             + page_layout.link("/daskflow/graph", "graph", dag_id=dag_id,
                                run_id=view.run.run_id))
    header = Div(text=f"<h2>{escape(dag_id)}: {escape(view.run.run_id)}</h2>{links}{LEGEND}")
    status, report = page_layout.status_line()
    doc.add_root(column(header, status, gantt_figure(view), sizing_mode="stretch_width"))
    live.keep_fresh(doc, [view], report=report)
