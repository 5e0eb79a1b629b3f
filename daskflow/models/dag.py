"""``DAG``: a set of tasks, their dependencies and when they run.

Defaults follow Airflow 3 (``schedule=None``, ``catchup=False``,
``max_active_runs=16``, ``max_active_tasks=16``). A DAG checks itself when its
``with`` block closes (or its ``@dag`` function returns): a cycle, a task
wired across DAGs, or a bad setting raises one :class:`DagDefinitionError`
naming the DAG and the task.

>>> from daskflow.operators import EmptyOperator
>>> with DAG("example", schedule="@daily") as dag:
...     _ = EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
>>> [t.task_id for t in dag.topological_sort()]
['a', 'b']
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models import _authoring_stack
from daskflow.models.ids import plain
from daskflow.models.taskgroup import TaskGroup

if TYPE_CHECKING:
    from daskflow.models.baseoperator import BaseOperator

_DAG_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class DagSummary:
    """What a running task sees as ``context["dag"]``: the DAG without its tasks."""

    dag_id: str
    description: str | None = None
    fileloc: str | None = None
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    template_searchpath: tuple[str, ...] = ()
    render_template_as_native_obj: bool = False
    user_defined_macros: dict[str, Any] = field(default_factory=dict)
    user_defined_filters: dict[str, Any] = field(default_factory=dict)
    template_undefined: Any = None
    jinja_environment_kwargs: dict[str, Any] = field(default_factory=dict)


class DAG:
    """A workflow: tasks, dependencies, a schedule and run-level settings."""

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        default_args: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        max_active_tasks: int = 16,
        max_active_runs: int = 16,
        dagrun_timeout: timedelta | None = None,
        catchup: bool = False,
        on_success_callback: Callable | Sequence[Callable] | None = None,
        on_failure_callback: Callable | Sequence[Callable] | None = None,
        doc_md: str | None = None,
        tags: Iterable[str] | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        template_undefined: Any = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        is_paused_upon_creation: bool | None = None,
        owner_links: dict[str, str] | None = None,
        dag_display_name: str | None = None,
        schedule_interval: Any = None,
        fileloc: str | None = None,
        **unknown: Any,
    ) -> None:
        dag_id = plain(dag_id)
        if not isinstance(dag_id, str) or not _DAG_ID.match(dag_id) or len(dag_id) > 250:
            raise DagDefinitionError(
                f"invalid dag_id {dag_id!r}: use letters, digits, '_', '-' and '.'"
            )
        if unknown:
            raise DagDefinitionError(
                f"DAG {dag_id!r} got unknown arguments {sorted(unknown)}: daskflow does not "
                "support them (docs/airflow-differences.md); check their spelling or remove them"
            )
        self.dag_id = dag_id
        self.description = description
        # Airflow 2 DAG files say schedule_interval; Airflow 3 removed it for schedule.
        self.schedule = schedule if schedule is not None else schedule_interval
        self.dag_display_name = dag_display_name or dag_id
        self.default_args = self._check_dict("default_args", default_args)
        # As in Airflow, the DAG's dates fall back to the ones in default_args.
        self.start_date = _aware(start_date or self.default_args.get("start_date"), dag_id,
                                 "start_date")
        self.end_date = _aware(end_date or self.default_args.get("end_date"), dag_id, "end_date")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise DagDefinitionError(
                f"DAG {dag_id!r}: end_date {self.end_date} is before start_date {self.start_date}"
            )
        self.params = self._check_dict("params", params)
        self.max_active_tasks = self._positive("max_active_tasks", max_active_tasks)
        self.max_active_runs = self._positive("max_active_runs", max_active_runs)
        if dagrun_timeout is not None and not isinstance(dagrun_timeout, timedelta):
            raise DagDefinitionError(
                f"DAG {dag_id!r}: dagrun_timeout must be a timedelta, got {dagrun_timeout!r}"
            )
        self.dagrun_timeout = dagrun_timeout
        self.catchup = bool(catchup)
        self.on_success_callback = self._callbacks("on_success_callback", on_success_callback)
        self.on_failure_callback = self._callbacks("on_failure_callback", on_failure_callback)
        self.doc_md = doc_md
        self.tags = sorted(set(tags or ()))
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = list(template_searchpath or ())
        self.user_defined_macros = dict(user_defined_macros or {})
        self.user_defined_filters = dict(user_defined_filters or {})
        self.render_template_as_native_obj = render_template_as_native_obj
        # None means jinja2.StrictUndefined, Airflow's default.
        self.template_undefined = template_undefined
        self.jinja_environment_kwargs = self._check_dict("jinja_environment_kwargs",
                                                         jinja_environment_kwargs)
        self.is_paused_upon_creation = is_paused_upon_creation
        self.owner_links = dict(owner_links or {})
        self.fileloc = fileloc or _caller_file()
        self.task_dict: dict[str, BaseOperator] = {}
        self._root_group: TaskGroup = TaskGroup.root(self)
        self._timetable = None
        self.timetable  # noqa: B018 -- a bad schedule fails here, as in Airflow

    # -- context manager ------------------------------------------------------------
    def __enter__(self) -> DAG:
        _authoring_stack.push_dag(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _authoring_stack.pop_dag()
        if exc_type is None:
            self.validate()

    # -- tasks ----------------------------------------------------------------------
    def add_task(self, task: BaseOperator) -> None:
        if task.task_id in self.task_dict and self.task_dict[task.task_id] is not task:
            raise DagDefinitionError(
                f"DAG {self.dag_id!r}: duplicate task_id {task.task_id!r}; "
                "every task of a DAG needs its own id"
            )
        if task.dag is not None and task.dag is not self:
            raise DagDefinitionError(
                f"task {task.task_id!r} already belongs to DAG {task.dag.dag_id!r}; "
                f"it cannot also join DAG {self.dag_id!r}"
            )
        task.dag = self
        self.task_dict[task.task_id] = task
        if task.task_group is None:
            self._root_group.children[task.task_id] = task

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def get_task(self, task_id: str) -> BaseOperator:
        try:
            return self.task_dict[task_id]
        except KeyError:
            from daskflow.exceptions import TaskNotFound

            raise TaskNotFound(f"DAG {self.dag_id!r} has no task {task_id!r}") from None

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    @property
    def roots(self) -> list[BaseOperator]:
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    @property
    def task_group(self) -> TaskGroup:
        """The root task group, holding every task and group not inside another group."""
        return self._root_group

    # -- structure ------------------------------------------------------------------
    def topological_sort(self) -> list[BaseOperator]:
        """Tasks ordered so each comes after its upstream tasks (stable: definition order)."""
        order = list(self.task_dict)
        position = {task_id: i for i, task_id in enumerate(order)}
        indegree = {t: len(self.task_dict[t].upstream_task_ids) for t in order}
        # A heap of definition positions: the earliest ready task comes next, at
        # O(log n) a step (sorting the ready list at every step was quadratic).
        ready = [position[t] for t in order if indegree[t] == 0]
        result: list[BaseOperator] = []
        while ready:
            task_id = order[heapq.heappop(ready)]
            result.append(self.task_dict[task_id])
            for child in self.task_dict[task_id].downstream_task_ids:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, position[child])
        if len(result) != len(order):
            raise DagDefinitionError(
                f"DAG {self.dag_id!r} has a cycle: {' >> '.join(self.find_cycle())}"
            )
        return result

    def find_cycle(self) -> list[str]:
        """One cycle as a list of task ids (first id repeated at the end), or ``[]``."""
        colour: dict[str, int] = {}
        stack: list[str] = []

        def visit(task_id: str) -> list[str]:
            colour[task_id] = 1
            stack.append(task_id)
            for child in sorted(self.task_dict[task_id].downstream_task_ids):
                if colour.get(child) == 1:
                    return stack[stack.index(child):] + [child]
                if child not in colour and (found := visit(child)):
                    return found
            colour[task_id] = 2
            stack.pop()
            return []

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * len(self.task_dict) + 100))
        try:
            for task_id in self.task_dict:
                if task_id not in colour and (cycle := visit(task_id)):
                    return cycle
        finally:
            sys.setrecursionlimit(limit)
        return []

    def validate(self) -> None:
        """Raise :class:`DagDefinitionError` when the DAG cannot run as defined."""
        for task in self.task_dict.values():
            for other in task.upstream_task_ids | task.downstream_task_ids:
                if other not in self.task_dict:
                    raise DagDefinitionError(
                        f"DAG {self.dag_id!r}: task {task.task_id!r} is wired to {other!r}, "
                        "which is not a task of this DAG"
                    )
        self.topological_sort()
        self.timetable  # noqa: B018 -- builds the timetable, raising on a bad schedule

    @property
    def timetable(self) -> Any:
        """The schedule as a :class:`daskflow.schedule.Timetable` (built once)."""
        if self._timetable is None:
            from daskflow.schedule import ScheduleError, timetable_for

            tz = self.start_date.tzinfo if self.start_date else None
            try:
                self._timetable = timetable_for(self.schedule, timezone=tz, dag_id=self.dag_id)
            except ScheduleError as exc:
                raise DagDefinitionError(str(exc)) from None
        return self._timetable

    def priority_weights(self) -> dict[str, int]:
        """Each task's effective priority, by its ``weight_rule`` as in Airflow.

        ``downstream`` (the default) adds the weights of every task after it,
        so long chains start first; ``upstream`` adds those before it;
        ``absolute`` is the task's own weight.
        """
        order = self.topological_sort()
        below: dict[str, set[str]] = {}
        for task in reversed(order):
            below[task.task_id] = set(task.downstream_task_ids).union(
                *(below[d] for d in task.downstream_task_ids))
        above: dict[str, set[str]] = {}
        # Only the ``upstream`` rule needs what lies above; for long chains it is quadratic.
        if any(task.weight_rule == "upstream" for task in order):
            for task in order:
                above[task.task_id] = set(task.upstream_task_ids).union(
                    *(above[u] for u in task.upstream_task_ids))
        weights = {}
        for task in order:
            related = {"downstream": below, "upstream": above}.get(task.weight_rule)
            extra = sum(self.task_dict[t].priority_weight for t in related[task.task_id]) \
                if related is not None else 0
            weights[task.task_id] = task.priority_weight + extra
        return weights

    def structure(self) -> dict[str, Any]:
        """The DAG's shape as plain data: what a DAG version hashes and the UI draws."""
        return {
            "dag_id": self.dag_id,
            "schedule": self.schedule_description(),
            "tasks": {t.task_id: _task_structure(t) for t in self.topological_sort()},
        }

    def schedule_description(self) -> Any:
        """The schedule as the store and the UI show it (a cron string, ``every 1:00:00``)."""
        return _describe(self.schedule)

    def structure_hash(self, structure: dict[str, Any] | None = None) -> str:
        """A short hash of :meth:`structure` (pass it when already built: it walks every task)."""
        blob = json.dumps(self.structure() if structure is None else structure,
                          sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def summary(self) -> DagSummary:
        if getattr(self, "_summary", None) is None:
            self._summary = DagSummary(
                dag_id=self.dag_id,
                description=self.description,
                fileloc=self.fileloc,
                tags=tuple(self.tags),
                params=dict(self.params),
                owner=self.default_args.get("owner"),
                template_searchpath=tuple(self.template_searchpath),
                render_template_as_native_obj=self.render_template_as_native_obj,
                user_defined_macros=dict(self.user_defined_macros),
                user_defined_filters=dict(self.user_defined_filters),
                template_undefined=self.template_undefined,
                jinja_environment_kwargs=dict(self.jinja_environment_kwargs),
            )
        return self._summary

    # -- running --------------------------------------------------------------------
    def test(
        self,
        logical_date: datetime | str | None = None,
        conf: dict[str, Any] | None = None,
        cluster: Any = None,
        db: str | None = None,
        run_conf: dict[str, Any] | None = None,
        execution_date: datetime | str | None = None,
        **options: Any,
    ) -> Any:
        """Run one DAG run to completion here and now; return its result.

        ``cluster`` is a scheduler address or a ``distributed.Client`` (reused,
        not closed); without it an in-process LocalCluster starts. ``db`` is a
        SQLAlchemy URL; without it the SQLite file under ``$DASKFLOW_HOME``.
        """
        # The one place the model reaches into execution: Airflow users expect
        # dag.test() on the DAG itself. Imported here so models/ stays importable
        # without Dask.
        from daskflow.execution.single_run import run_once

        # Airflow's dag.test() names: run_conf (2.x and 3.x), execution_date (2.x).
        conf = conf if conf is not None else run_conf
        logical_date = logical_date if logical_date is not None else execution_date
        return run_once(self, logical_date=logical_date, conf=conf, cluster=cluster, db=db,
                        **options)

    def submit(
        self,
        logical_date: datetime | str | None = None,
        conf: dict[str, Any] | None = None,
        cluster: Any = None,
        db: str | None = None,
    ) -> Any:
        """Start one run now and return at once with a ``RunHandle`` on it.

        Runs go on while the caller does other things; many runs of one or
        several DAGs can be submitted on the same cluster, and this process
        drives them all from one background thread. ``cluster`` and ``db``
        are as for :meth:`test`; an address or the embedded LocalCluster is
        opened once per process and kept for later submits. The handle gives
        states, return values, logs, ``wait()``, ``cancel()`` and ``await``
        (docs/python-api.md).
        """
        # Like test(): the model reaches into execution only here, inside the method.
        from daskflow.api.submit import submit_run

        return submit_run(self, logical_date=logical_date, conf=conf, cluster=cluster, db=db)

    # -- helpers --------------------------------------------------------------------
    def _check_dict(self, name: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise DagDefinitionError(f"DAG {self.dag_id!r}: {name} must be a dict, got {value!r}")
        return dict(value)

    def _positive(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DagDefinitionError(
                f"DAG {self.dag_id!r}: {name} must be a positive integer, got {value!r}"
            )
        return value

    def _callbacks(self, name: str, value: Any) -> list[Callable]:
        callbacks = [] if value is None else list(value) if isinstance(value, (list, tuple)) \
            else [value]
        for cb in callbacks:
            if not callable(cb):
                raise DagDefinitionError(f"DAG {self.dag_id!r}: {name} must be callable: {cb!r}")
        return callbacks

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"


def _aware(value: Any, dag_id: str, name: str) -> datetime | None:
    """Naive datetimes are UTC, as with Airflow's default timezone."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DagDefinitionError(f"DAG {dag_id!r}: {name} must be a datetime, got {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _task_structure(task: Any) -> dict[str, Any]:
    """One task as plain data. ``groups`` (its task groups, outermost first, full ids)
    is there only for a task in a group, so DAGs without groups keep their hashes."""
    shape: dict[str, Any] = {
        "operator": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "trigger_rule": str(task.trigger_rule),
        "retries": task.retries,
        "mapped": task.is_mapped,
    }
    groups = []
    group = getattr(task, "task_group", None)
    while group is not None and group.group_id is not None:
        groups.append(group.group_id)
        group = group.parent_group
    if groups:
        shape["groups"] = groups[::-1]
    return shape


def _describe(schedule: Any) -> Any:
    if schedule is None or isinstance(schedule, str):
        return schedule
    if isinstance(schedule, timedelta):
        return f"every {schedule}"
    return repr(schedule)


def _caller_file() -> str | None:
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("daskflow.models"):
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else None


def dag(dag_id: str | Callable | None = None, **dag_kwargs: Any) -> Callable:
    """Turn a function into a DAG factory: ``@dag(schedule="@daily")``.

    Calling the function builds the DAG: its body runs inside ``with DAG(...)``
    and its keyword arguments become the DAG's ``params``, each passed to the
    body as a reference resolved from the run's params when tasks execute.
    """
    if callable(dag_id):
        return dag()(dag_id)

    def wrap(fn: Callable) -> Callable[..., DAG]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            from daskflow.models.xcom_arg import ParamArg

            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            params = dict(dag_kwargs.get("params") or {})
            params.update({k: v for k, v in bound.arguments.items()})
            options = {**dag_kwargs, "params": params}
            options.setdefault("fileloc", inspect.getsourcefile(fn))
            options.setdefault("doc_md", inspect.getdoc(fn))
            with DAG(dag_id or fn.__name__, **options) as new_dag:
                fn(**{name: ParamArg(name) for name in bound.arguments})
            return new_dag

        return factory

    return wrap
