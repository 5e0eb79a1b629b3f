"""``WorkflowTrigger`` and ``DagStateTrigger``: deferred waits on other DAGs' runs.

``WorkflowTrigger`` is the wait of a deferrable ``ExternalTaskSensor``;
``DagStateTrigger`` the wait of ``TriggerDagRunOperator(wait_for_completion=True,
deferrable=True)`` for the run it queued.


It asks the metadata store the sensor's question every ``poke_interval``
seconds, in a thread (the store's driver blocks), and fires a status:
``success`` once every target is in an allowed state, ``failed`` or
``skipped`` as soon as one is in such a state. The store is the one of the
run the trigger belongs to, set by the triggerer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from daskflow.exceptions import DaskflowError, TaskSkipped
from daskflow.triggers.base import BaseTrigger, TriggerEvent


class WorkflowTrigger(BaseTrigger):
    """Fires ``{"status": ...}`` when the external targets settle (see the module docstring)."""

    def __init__(self, external_dag_id: str, logical_dates: list[datetime],
                 external_task_ids: list[str] | None = None,
                 external_task_group_id: str | None = None,
                 allowed_states: list[str] | None = None,
                 skipped_states: list[str] | None = None,
                 failed_states: list[str] | None = None, check_existence: bool = False,
                 poke_interval: float = 2.0, **kwargs: Any) -> None:
        super().__init__()
        self.external_dag_id = external_dag_id
        self.logical_dates = list(logical_dates)
        self.external_task_ids = list(external_task_ids) if external_task_ids else None
        self.external_task_group_id = external_task_group_id
        self.allowed_states = list(allowed_states or ["success"])
        self.skipped_states = list(skipped_states or [])
        self.failed_states = list(failed_states or [])
        self.check_existence = check_existence
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("daskflow.triggers.external_task.WorkflowTrigger", {
            "external_dag_id": self.external_dag_id, "logical_dates": self.logical_dates,
            "external_task_ids": self.external_task_ids,
            "external_task_group_id": self.external_task_group_id,
            "allowed_states": self.allowed_states, "skipped_states": self.skipped_states,
            "failed_states": self.failed_states, "check_existence": self.check_existence,
            "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            status = await asyncio.to_thread(self._status)
            if status is not None:
                yield TriggerEvent(status)
                return
            await asyncio.sleep(self.poke_interval)

    def _status(self) -> dict[str, str] | None:
        from daskflow import config
        from daskflow.sensors.external_task import ExternalTaskSensor
        from daskflow.store import Store

        question = ExternalTaskSensor(
            task_id="workflow_trigger", external_dag_id=self.external_dag_id,
            external_task_ids=self.external_task_ids,
            external_task_group_id=self.external_task_group_id,
            allowed_states=self.allowed_states, skipped_states=self.skipped_states,
            failed_states=self.failed_states, check_existence=self.check_existence)
        store = Store(config.db_url())
        try:
            done = question.check(store, self.logical_dates)
        except TaskSkipped as exc:
            return {"status": "skipped", "message": str(exc)}
        except DaskflowError as exc:
            return {"status": "failed", "message": str(exc)}
        finally:
            store.dispose()
        return {"status": "success"} if done else None


class DagStateTrigger(BaseTrigger):
    """Fires ``{"run_id", "state"}`` once a run of ``dag_id`` is in one of ``states``
    (``state`` None: the run was deleted)."""

    def __init__(self, dag_id: str, run_ids: list[str], states: list[str],
                 poll_interval: float = 5.0) -> None:
        super().__init__()
        self.dag_id = dag_id
        self.run_ids = list(run_ids)
        self.states = list(states)
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("daskflow.triggers.external_task.DagStateTrigger", {
            "dag_id": self.dag_id, "run_ids": self.run_ids, "states": self.states,
            "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            found = await asyncio.to_thread(self._settled)
            if found is not None:
                yield TriggerEvent(found)
                return
            await asyncio.sleep(self.poll_interval)

    def _settled(self) -> dict[str, Any] | None:
        from daskflow import config
        from daskflow.store import Store

        store = Store(config.db_url())
        try:
            for run_id in self.run_ids:
                run = store.get_dag_run(self.dag_id, run_id)
                if run is None or run.state in self.states:
                    return {"run_id": run_id, "state": None if run is None else run.state}
        finally:
            store.dispose()
        return None
