"""``ExternalTaskSensor``: waits for another DAG's task (or run) to reach a state.

The other DAG's run is the one whose logical date is this run's logical
date, shifted by ``execution_delta`` (or the dates ``execution_date_fn``
returns). The sensor reads the metadata store (``daskflow.db``), which the
workers of the embedded LocalCluster reach through the environment; a
remote cluster's workers need the same setting.

As in Airflow: the wait ends when every target (each task id, or the run
itself when no task is named) is in one of ``allowed_states`` for every
date; a target in ``failed_states`` fails the sensor (``skipped`` with
``soft_fail``); one in ``skipped_states`` skips it. A task group id targets
every task of the group. With ``check_existence`` the other DAG (and task)
must be known to the store, or the sensor fails at once. With
``deferrable=True`` the store is asked from the scheduler's process
(:class:`~daskflow.triggers.external_task.WorkflowTrigger`) every
``poke_interval`` seconds while the task holds no worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from daskflow.exceptions import DagDefinitionError, DaskflowError, TaskFailedNoRetry, TaskSkipped
from daskflow.models.baseoperator import BaseOperator
from daskflow.models.state import DagRunState, TaskInstanceState
from daskflow.sensors.base import BaseSensorOperator

_TASK_STATES = {s.value for s in TaskInstanceState}
_RUN_STATES = {s.value for s in DagRunState}


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for ``external_dag_id`` (and its tasks) at this run's logical date."""

    supports_deferral = True

    def __init__(self, *, external_dag_id: str, external_task_id: str | None = None,
                 external_task_ids: Collection[str] | None = None,
                 external_task_group_id: str | None = None,
                 allowed_states: Iterable[str] | None = None,
                 skipped_states: Iterable[str] | None = None,
                 failed_states: Iterable[str] | None = None,
                 execution_delta: timedelta | None = None,
                 execution_date_fn: Callable | None = None, check_existence: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed_states = [str(s) for s in allowed_states or ["success"]]
        self.skipped_states = [str(s) for s in skipped_states or []]
        self.failed_states = [str(s) for s in failed_states or []]
        every = [*self.allowed_states, *self.skipped_states, *self.failed_states]
        if len(set(every)) != len(every):
            raise self._bad("the same state is in two of allowed_states, skipped_states and "
                            "failed_states")
        if external_task_id is not None and external_task_ids:
            raise self._bad("give external_task_id or external_task_ids, not both")
        ids = [external_task_id] if external_task_id is not None else list(
            external_task_ids or [])
        if external_task_group_id is not None and ids:
            raise self._bad("give external_task_group_id or task ids, not both")
        valid = _TASK_STATES if ids or external_task_group_id else _RUN_STATES
        unknown = sorted(set(every) - valid)
        if unknown:
            target = "task" if valid is _TASK_STATES else "DAG run"
            raise self._bad(f"{unknown} are not {target} states (valid: {sorted(valid)})")
        if execution_delta is not None and execution_date_fn is not None:
            raise self._bad("give execution_delta or execution_date_fn, not both")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = ids or None
        self.external_task_group_id = external_task_group_id
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence

    def _bad(self, why: str) -> DagDefinitionError:
        return DagDefinitionError(f"ExternalTaskSensor {self.task_id!r}: {why}")

    def dates(self, context: dict[str, Any]) -> list[datetime]:
        """The other DAG's logical dates this run waits for."""
        logical = context["logical_date"]
        if self.execution_delta is not None:
            return [logical - self.execution_delta]
        if self.execution_date_fn is not None:
            found = _call_date_fn(self.execution_date_fn, logical, context)
            return list(found) if isinstance(found, (list, tuple)) else [found]
        return [logical]

    def poke(self, context: dict[str, Any]) -> bool:
        from daskflow import config
        from daskflow.store import Store

        store = Store(config.db_url())
        try:
            return self.check(store, self.dates(context), say=print)
        finally:
            store.dispose()

    def execute(self, context: dict[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from daskflow.triggers.external_task import WorkflowTrigger

        self.defer(trigger=WorkflowTrigger(
            self.external_dag_id, self.dates(context), self.external_task_ids,
            self.external_task_group_id, self.allowed_states, self.skipped_states,
            self.failed_states, self.check_existence, self.poke_interval),
            method_name="execute_complete", timeout=self.timeout)

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        status = (event or {}).get("status")
        message = (event or {}).get("message") or f"external {self._target()} {status}"
        if status == "success":
            return
        if status == "skipped" or self.soft_fail:
            raise TaskSkipped(message)
        raise DaskflowError(message)

    def check(self, store: Any, dates: list[datetime],
              say: Callable[[str], Any] = lambda _: None) -> bool:
        """Whether every target is in an allowed state on every date; raises when one
        is in a failed or skipped state."""
        if self.check_existence:
            self._check_existence(store)
        runs = {r.logical_date: r for r in store.list_dag_runs(dag_id=self.external_dag_id)}
        states = [state for day in dates for state in self._states(store, runs.get(day))]
        say(f"Poking for {self.external_dag_id}"
            f"{'.' + ','.join(self.external_task_ids) if self.external_task_ids else ''} "
            f"on {', '.join(d.isoformat() for d in dates)}: {states or 'no run'}")
        if any(s in self.failed_states for s in states):
            message = (f"the external {self._target()} in DAG {self.external_dag_id!r} "
                       f"reached a failed state ({sorted(set(states) & set(self.failed_states))})")
            if self.soft_fail:
                raise TaskSkipped(f"{message}; skipping (soft_fail)")
            raise DaskflowError(message)
        if any(s in self.skipped_states for s in states):
            raise TaskSkipped(f"the external {self._target()} in DAG {self.external_dag_id!r} "
                              "was skipped")
        expected = len(dates) * self._targets_per_run()
        return len(states) == expected and all(s in self.allowed_states for s in states)

    def _target(self) -> str:
        return "task" if self.external_task_ids or self.external_task_group_id else "run"

    def _targets_per_run(self) -> int:
        return len(self.external_task_ids) if self.external_task_ids else 1

    def _states(self, store: Any, run: Any) -> list[str]:
        """One state per target of ``run`` that has one (a run without it counts none)."""
        if run is None:
            return []
        if not (self.external_task_ids or self.external_task_group_id):
            return [run.state]
        instances = store.list_task_instances(self.external_dag_id, run.run_id)
        if self.external_task_group_id is not None:
            prefix = f"{self.external_task_group_id}."
            group = [ti.state for ti in instances if ti.task_id.startswith(prefix) and ti.state]
            return [self._one_state(group)] if group else []
        found = []
        for task_id in self.external_task_ids or ():
            mine = [ti.state for ti in instances if ti.task_id == task_id and ti.state]
            if mine:
                found.append(self._one_state(mine))
        return found

    def _one_state(self, states: list[str]) -> str:
        """The state of a target made of several instances (a group, a mapped task)."""
        for wanted in (self.failed_states, self.skipped_states):
            hit = next((s for s in states if s in wanted), None)
            if hit is not None:
                return hit
        return next((s for s in states if s not in self.allowed_states), states[0])

    def _check_existence(self, store: Any) -> None:
        if store.get_dag(self.external_dag_id) is None:
            raise TaskFailedNoRetry(f"the external DAG {self.external_dag_id!r} does not exist "
                                    "in the metadata store")


def _call_date_fn(fn: Callable, logical: datetime, context: dict[str, Any]) -> Any:
    import inspect

    parameters = inspect.signature(fn).parameters
    if len(parameters) >= 2 or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return fn(logical, context)
    return fn(logical)


class ExternalTaskMarker(BaseOperator):
    """Marks that a task of another DAG depends on this one (``daskflow tasks clear``
    follows it to clear that task too, up to ``recursion_depth`` DAGs away)."""

    template_fields = ("logical_date",)
    ui_color = "#4db7db"

    def __init__(self, *, external_dag_id: str, external_task_id: str,
                 logical_date: str | datetime | None = "{{ logical_date.isoformat() }}",
                 recursion_depth: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(logical_date, datetime):
            logical_date = logical_date.isoformat()
        if not isinstance(logical_date, str):
            raise DagDefinitionError(f"ExternalTaskMarker {self.task_id!r}: logical_date must "
                                     f"be a string or a datetime, got {logical_date!r}")
        if recursion_depth <= 0:
            raise DagDefinitionError(f"ExternalTaskMarker {self.task_id!r}: recursion_depth "
                                     "must be a positive integer")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.logical_date = logical_date
        self.recursion_depth = recursion_depth

    def execute(self, context: dict[str, Any]) -> None:
        return None
