"""``dag.test()``: one run of one DAG, start to finish, from a script or the CLI.

It records into the store like any run (so ``daskflow tasks logs`` and the
dashboard show it) and returns a :class:`RunResult`. Running it again for the
same logical date replaces the earlier test run, as ``airflow dags test``
does.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from daskflow import config
from daskflow.dashboard.store_access import show_store
from daskflow.exceptions import DaskflowError, XComNotAvailable
from daskflow.execution.cluster import connect
from daskflow.execution.results import load_outcome
from daskflow.execution.run import RunExecution
from daskflow.execution.runner import Runner
from daskflow.models.context import DagRunInfo
from daskflow.models.state import DagRunState
from daskflow.scheduler.dag_sync import dag_record, save_version
from daskflow.store import RunExistsError, RunLostError, Store

_OWNER = f"dag-test-{socket.gethostname()}-{os.getpid()}"
HEARTBEAT_INTERVAL = 2.0
#: A loop adopts a run whose heartbeat is this old (``daskflow scheduler --stale-after``).
STALE_AFTER = 10.0


@dataclass(frozen=True)
class TaskResult:
    """How one task instance of a finished run ended."""

    task_id: str
    map_index: int
    state: str
    try_number: int
    duration: float | None
    error: str | None = None
    #: Where its outcome is kept (``execution/results.py``): the return value.
    result_ref: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class RunResult:
    """A finished run: ``.state`` and, per task instance, ``.tasks[task_id]``.

    Mapped instances appear as ``"task_id[3]"``. Return values are read from
    the result store when asked for (``xcom``, ``values``), so a run whose
    tasks return large arrays costs nothing until one is wanted.
    """

    dag_id: str
    run_id: str
    state: str
    logical_date: datetime
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    #: Why the run failed when no task says it (a timeout, a cancel, a lost client).
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == DagRunState.SUCCESS.value

    @property
    def errors(self) -> dict[str, str]:
        """The error summary of every task instance that ended with one."""
        return {name: t.error for name, t in self.tasks.items() if t.error}

    @property
    def values(self) -> dict[str, Any]:
        """Each task's return value (a list for a mapped task), for the tasks that
        all succeeded; the others are left out (see :attr:`errors`)."""
        by_task: dict[str, list[TaskResult]] = {}
        for task in self.tasks.values():
            by_task.setdefault(task.task_id, []).append(task)
        return {task_id: self.xcom(task_id) for task_id, found in by_task.items()
                if all(t.state == "success" for t in found)}

    def xcom(self, task_id: str, map_index: int | None = None) -> Any:
        """The return value of ``task_id`` (all its mapped instances' as a list if
        ``map_index`` is None), from the result store; see :func:`task_value`."""
        found = sorted((t for t in self.tasks.values() if t.task_id == task_id),
                       key=lambda t: t.map_index)
        if not found:
            known = ", ".join(sorted({t.task_id for t in self.tasks.values()})) or "none"
            raise XComNotAvailable(f"DAG {self.dag_id!r} run {self.run_id!r} has no task "
                                   f"{task_id!r} (its tasks: {known})")
        mapped = found[0].map_index >= 0
        if map_index is None and mapped:
            return [task_value(self.dag_id, self.run_id, t) for t in found]
        wanted = -1 if map_index is None else map_index
        for task in found:
            if task.map_index == wanted:
                return task_value(self.dag_id, self.run_id, task)
        raise XComNotAvailable(f"DAG {self.dag_id!r} run {self.run_id!r}: task {task_id!r} "
                               f"has no map index {wanted}")

    def to_json(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id, "run_id": self.run_id, "state": self.state,
            "logical_date": self.logical_date.isoformat(),
            "tasks": {name: {k: v for k, v in asdict(t).items()
                             if k in ("state", "try_number", "duration", "error")}
                      for name, t in self.tasks.items()},
        }


def task_value(dag_id: str, run_id: str, task: TaskResult) -> Any:
    """The return value of a finished task instance, from the result store.

    A skipped instance has none (``None``, as an XCom pull in Airflow gives);
    an unfinished or failed one raises :class:`XComNotAvailable` naming it.
    """
    where = (f"DAG {dag_id!r} run {run_id!r} task {task.task_id!r}"
             + (f" map index {task.map_index}" if task.map_index >= 0 else ""))
    if task.state in ("skipped", "removed"):
        return None
    if task.state != "success":
        why = f": {task.error}" if task.error else ""
        raise XComNotAvailable(f"{where} has no return value: it is {task.state}{why}")
    if task.result_ref is None:
        raise XComNotAvailable(
            f"{where} succeeded but its return value was not kept (no result store, or the "
            "write failed; see daskflow.results-url)")
    try:
        return load_outcome(task.result_ref, task.task_id, task.map_index).value
    except FileNotFoundError:
        raise XComNotAvailable(
            f"{where}: its kept return value {task.result_ref!r} is gone or cannot be "
            "reached from here (kept values are deleted daskflow.results-retention after a "
            "run ends; with a remote cluster, daskflow.results-url must be a location this "
            "machine reaches too)") from None


def parse_logical_date(value: datetime | date | str | None, now: datetime) -> datetime:
    """A timezone-aware logical date from a datetime, a date or an ISO string."""
    if value is None:
        return now
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DaskflowError(
                f"--logical-date {value!r} is not an ISO date or datetime "
                "(e.g. 2025-01-31 or 2025-01-31T06:00:00+00:00)"
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def check_conf(conf: Any) -> dict[str, Any]:
    if conf is None:
        return {}
    if not isinstance(conf, dict):
        raise DaskflowError(f"conf must be a JSON object (a dict), got {conf!r}")
    return conf


def run_once(dag: Any, logical_date: Any = None, conf: dict | None = None, cluster: Any = None,
             db: str | None = None, *, workers: int | None = None,
             threads_per_worker: int | None = None, processes: bool = True,
             progress: Callable[[dict[str, int]], None] | None = None,
             on_cluster: Callable[[Any], None] | None = None) -> RunResult:
    """Run ``dag`` once and wait for the run to finish; see ``DAG.test``."""
    conf = check_conf(conf)
    now = datetime.now(timezone.utc)
    logical = parse_logical_date(logical_date, now)
    dag.validate()
    with connect(cluster, workers=workers, threads_per_worker=threads_per_worker,
                 processes=processes) as client:
        if on_cluster is not None:
            on_cluster(client)
        store = Store(db or config.db_url())
        show_store(db or config.db_url())  # the embedded dashboard shows this run's store
        try:
            store.init()
            run = _create_run(store, dag, logical, conf, now)
            state, execution = _execute(dag, run, client, store, progress)
            refs = store.result_refs(dag.dag_id, run.run_id)
            record = store.get_dag_run(dag.dag_id, run.run_id)
            return _result(dag, run, state, execution, refs,
                           record.reason if record is not None else None)
        finally:
            store.dispose()


def _create_run(store: Store, dag: Any, logical: datetime, conf: dict, now: datetime
                ) -> DagRunInfo:
    store.sync_dags([dag_record(dag)])
    version = save_version(store, dag)
    interval = dag.timetable.infer_manual_data_interval(logical)
    run_id = f"manual__{logical.isoformat()}"
    kwargs = dict(dag_id=dag.dag_id, run_id=run_id, logical_date=logical,
                  data_interval_start=interval.start, data_interval_end=interval.end,
                  run_type="manual", conf=conf, state="running", external_trigger=True,
                  dag_version=version)
    try:
        store.create_dag_run(**kwargs)
    except RunExistsError:
        store.delete_dag_run(dag.dag_id, logical_date=logical)
        store.create_dag_run(**kwargs)
    return DagRunInfo(dag_id=dag.dag_id, run_id=run_id, logical_date=logical,
                      data_interval_start=interval.start, data_interval_end=interval.end,
                      run_type="manual", conf=conf, start_date=now)


def _execute(dag: Any, run: DagRunInfo, client: Any, store: Store,
             progress: Callable[[dict[str, int]], None] | None
             ) -> tuple[DagRunState, RunExecution]:
    """Drive the run through the runner every run goes through, until it ends."""
    key = (dag.dag_id, run.run_id)
    ended: list[tuple[RunExecution, DagRunState]] = []
    # Unlike the loop, depends_on_past holds nothing back: a test run runs every task.
    runner = Runner(store, client, _OWNER, dag_for=lambda record: dag,
                    results_url=config.results_url(), heartbeat_interval=HEARTBEAT_INTERVAL,
                    stale_after=STALE_AFTER, record_interval=float(config.get(
                        "record-interval", 0.25)),
                    on_closed=lambda key_, state, when, why, e: ended.append((e, state)))
    try:
        now = datetime.now(timezone.utc)
        # Owned by this process (and kept alive by its heartbeat) so that a scheduler
        # loop on the same store does not adopt the run as an orphan.
        fence = store.assign_run(*key, owner=_OWNER, now=now)
        runner.drive(store.get_dag_run(*key), fence, now)
        shown = 0.0
        while not ended:
            if key in runner.lost:
                raise RunLostError(f"run {run.run_id!r} of DAG {dag.dag_id!r} was taken over "
                                   "by a scheduler loop (or cleared) while this process ran it")
            runner.step(0.25)
            runner.tick(datetime.now(timezone.utc))
            execution = runner.executions.get(key)
            if progress is not None and execution is not None \
                    and time.monotonic() - shown > 0.2:
                shown = time.monotonic()
                progress(execution.counts())
        execution, state = ended[0]
        if progress is not None:
            progress(execution.counts())
        return state, execution
    except BaseException:
        if not ended and key not in runner.lost:
            # Ctrl-C or a crash: the run must not stay "running" with nobody on it.
            runner.fail(key, datetime.now(timezone.utc), "interrupted")
        raise
    finally:
        runner.shutdown(release=False)


def _result(dag: Any, run: DagRunInfo, state: DagRunState, execution: RunExecution,
            refs: dict[tuple[str, int], str | None], reason: str | None) -> RunResult:
    tasks = {}
    for (task_id, map_index), instance in sorted(execution.instances.items()):
        name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
        tasks[name] = TaskResult(task_id, map_index, instance.state.value, instance.try_number,
                                 instance.duration, instance.error,
                                 refs.get((task_id, map_index)))
    return RunResult(dag.dag_id, run.run_id, state.value, run.logical_date, tasks, reason)

