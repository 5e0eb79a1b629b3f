"""``TriggerDagRunOperator``: queue a run of another DAG, optionally wait for it to end.

The task writes a ``queued`` manual run to the metadata store, as ``daskflow
dags trigger`` does; a running scheduler loop on that store starts it. The
store is the one ``daskflow.config.db_url()`` names where the task runs
(``DASKFLOW_DB`` or ``daskflow.db``), so the Dask workers must see the same
setting as the scheduler loop. The target DAG must be one a loop recorded in
that store; its schedule gives the run's data interval, as for any manual run.

Outcomes, as in Airflow 3:

- the run id is pushed as the XCom ``trigger_run_id``; the return value is None;
- a run with that run id (or, in daskflow, that logical date) already
  exists: with ``reset_dag_run`` it is cleared and queued again (its conf
  stays), else with ``skip_when_already_exists`` the task is skipped, else
  it fails;
- with ``wait_for_completion`` the task checks the run's state every
  ``poke_interval`` seconds: a state in ``failed_states`` fails the task, one
  in ``allowed_states`` ends it successfully. It polls from its worker, but
  the waiting thread leaves the worker's thread pool, so it holds no worker
  thread while it sleeps (unless the task has an ``execution_timeout``: the
  node then runs it in a thread of its own, which cannot leave the pool).
  With ``deferrable=True`` it waits on a ``DagStateTrigger`` in the
  scheduler's process instead and holds nothing on the cluster at all.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timezone
from typing import Any

from daskflow.exceptions import DagDefinitionError, DaskflowError, TaskSkipped
from daskflow.models.baseoperator import BaseOperator
from daskflow.models.state import DagRunState

#: The XCom key of the triggered run's id.
XCOM_RUN_ID = "trigger_run_id"


class _NotSet:
    """The default of an argument that was not passed (``None`` means something)."""

    def __repr__(self) -> str:
        return "NOTSET"

    def __reduce__(self) -> str:
        return "NOTSET"  # unpickles as this module's one NOTSET, so ``is`` holds


NOTSET: Any = _NotSet()


class TriggerDagRunOperator(BaseOperator):
    """Queue a manual run of ``trigger_dag_id``."""

    template_fields = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf",
                       "wait_for_completion", "skip_when_already_exists")
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict | str | None = None,
        logical_date: str | datetime | None = NOTSET,
        run_after: Any = NOTSET,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float = 60,
        allowed_states: Sequence[str | DagRunState] | None = None,
        failed_states: Sequence[str | DagRunState] | None = None,
        skip_when_already_exists: bool = False,
        fail_when_dag_is_paused: bool = False,
        note: str | None = None,
        deferrable: bool = False,
        openlineage_inject_parent_info: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(trigger_dag_id, str) or not trigger_dag_id.strip():
            raise DagDefinitionError(
                f"{self._where('trigger_dag_id')} must be a DAG id, got {trigger_dag_id!r}")
        if logical_date is not NOTSET and not isinstance(logical_date, (str, date, type(None))):
            raise DagDefinitionError(f"{self._where('logical_date')} must be a datetime, an ISO "
                                     f"string or None, got {logical_date!r}")
        if isinstance(poke_interval, bool) or not isinstance(poke_interval, (int, float)) \
                or poke_interval <= 0:
            raise DagDefinitionError(f"{self._where('poke_interval')} must be a positive number "
                                     f"of seconds, got {poke_interval!r}")
        if run_after is not NOTSET:
            raise DagDefinitionError(f"{self._where('run_after')} is not supported: a daskflow "
                                     "run is due as soon as it is queued; set logical_date")
        if note is not None:
            raise DagDefinitionError(f"{self._where('note')} is not supported: daskflow runs "
                                     "have no notes")
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date
        self.reset_dag_run = bool(reset_dag_run)
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        self.allowed_states = (self._states("allowed_states", allowed_states) if allowed_states
                               else [DagRunState.SUCCESS])
        self.failed_states = (self._states("failed_states", failed_states)
                              if failed_states is not None else [DagRunState.FAILED])
        self.skip_when_already_exists = skip_when_already_exists
        self.fail_when_dag_is_paused = bool(fail_when_dag_is_paused)
        self.openlineage_inject_parent_info = openlineage_inject_parent_info
        self.deferrable = bool(deferrable)

    def _states(self, name: str, values: Any) -> list[DagRunState]:
        if isinstance(values, str):
            values = [values]
        try:
            return [DagRunState(getattr(v, "value", v)) for v in values]
        except (ValueError, TypeError):
            allowed = ", ".join(s.value for s in DagRunState)
            raise DagDefinitionError(f"{self._where(name)} {values!r} holds something that is "
                                     f"not a DAG run state; use {allowed}") from None

    def execute(self, context: dict[str, Any]) -> None:
        from daskflow import config
        from daskflow.store import Store

        logical = self._parse_logical_date()
        conf = self._parse_conf()
        run_id = str(self.trigger_run_id) if self.trigger_run_id else \
            f"manual__{logical.isoformat()}"
        self.trigger_run_id = run_id
        store = Store(config.db_url())
        try:
            self._queue(store, run_id, logical, conf)
            context["ti"].xcom_push(XCOM_RUN_ID, run_id)
            if self.wait_for_completion and self.deferrable:
                from daskflow.triggers.external_task import DagStateTrigger

                self.defer(trigger=DagStateTrigger(
                    self.trigger_dag_id, [self.trigger_run_id],
                    [s.value for s in [*self.allowed_states, *self.failed_states]],
                    self.poke_interval), method_name="execute_complete")
            if self.wait_for_completion:
                with _seceded():
                    self._wait(store, run_id)
        finally:
            store.dispose()

    def _queue(self, store: Any, run_id: str, logical: datetime, conf: dict | None) -> None:
        from daskflow.store import RunExistsError

        dag_id = self.trigger_dag_id
        record = store.get_dag(dag_id)
        if record is None or not record.is_active:
            raise DaskflowError(f"cannot trigger DAG {dag_id!r}: the metadata store does not "
                                "know it (a running scheduler loop records the DAGs of its "
                                "folder)")
        if self.fail_when_dag_is_paused and record.is_paused:
            raise DaskflowError(f"Dag {dag_id} is paused")
        interval = self._target_timetable(store).infer_manual_data_interval(logical)
        try:
            store.create_dag_run(dag_id, run_id, logical, interval.start, interval.end,
                                 "manual", conf, state="queued", external_trigger=True)
        except RunExistsError as exc:
            existing = store.get_dag_run(dag_id, run_id) or _run_at(store, dag_id, logical)
            if self.reset_dag_run and existing is not None:
                keys = [(ti.task_id, ti.map_index)
                        for ti in store.list_task_instances(dag_id, existing.run_id)]
                store.clear_task_instances(dag_id, existing.run_id, keys)
                print(f"Cleared run {existing.run_id!r} of DAG {dag_id!r}; it is queued again")
                self.trigger_run_id = existing.run_id
                return
            if self.skip_when_already_exists:
                raise TaskSkipped(f"DAG {dag_id!r} already has the run: {exc}") from None
            raise
        print(f"Queued run {run_id!r} of DAG {dag_id!r} (logical date {logical.isoformat()})")

    def _target_timetable(self, store: Any) -> Any:
        from daskflow.scheduler.dagbag import load_recorded_dag

        try:
            return load_recorded_dag(store, self.trigger_dag_id).timetable
        except DaskflowError as exc:
            raise DaskflowError(f"cannot trigger DAG {self.trigger_dag_id!r}: {exc}") from None

    def _wait(self, store: Any, run_id: str) -> None:
        allowed = [s.value for s in self.allowed_states]
        while True:
            print(f"Waiting for run {run_id!r} of DAG {self.trigger_dag_id!r} to reach one of "
                  f"{allowed}")
            time.sleep(self.poke_interval)
            run = store.get_dag_run(self.trigger_dag_id, run_id)
            if self._judge(run_id, run.state if run is not None else None):
                return

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        """Where a deferred wait resumes: the triggered run reached a watched state."""
        event = event or {}
        self._judge(event.get("run_id", self.trigger_run_id), event.get("state"))

    def _judge(self, run_id: str | None, state: str | None) -> bool:
        """Whether the wait is over: raises for a failed state or a deleted run."""
        dag_id = self.trigger_dag_id
        if state is None:
            raise DaskflowError(f"run {run_id!r} of DAG {dag_id!r} was deleted while the "
                                "task waited for it")
        if state in [s.value for s in self.failed_states]:
            raise DaskflowError(f"{dag_id} failed with failed state {state}")
        if state in [s.value for s in self.allowed_states]:
            print(f"{dag_id} finished with allowed state {state}")
            return True
        return False

    def _parse_logical_date(self) -> datetime:
        value = self.logical_date
        if value is NOTSET or value is None:
            return datetime.now(timezone.utc)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise DaskflowError(f"task {self.task_id!r}: logical_date {value!r} is not an "
                                    "ISO date or datetime") from None
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)

    def _parse_conf(self) -> dict | None:
        conf = self.conf
        try:
            if isinstance(conf, str) and conf:
                conf = json.loads(conf)
            json.dumps(conf)
        except (TypeError, ValueError):
            raise ValueError(f"conf parameter should be JSON Serializable: {conf!r}") from None
        if conf is not None and not isinstance(conf, dict):
            raise ValueError(f"conf must be a JSON object (a dict), got {conf!r}")
        return conf or None


def _run_at(store: Any, dag_id: str, logical: datetime) -> Any:
    for run in store.list_dag_runs(dag_id):
        if run.logical_date == logical:
            return run
    return None


@contextlib.contextmanager
def _seceded() -> Iterator[None]:
    """Leave the Dask worker's thread pool while waiting; a no-op outside a worker task."""
    from distributed import rejoin, secede
    from distributed.worker import thread_state

    if getattr(thread_state, "key", None) is None or not hasattr(thread_state, "start_time"):
        yield
        return
    secede()
    try:
        yield
    finally:
        rejoin()
