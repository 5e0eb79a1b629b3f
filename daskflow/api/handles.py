"""Handles on runs: follow a run from Python while it runs and read it after.

Two kinds, one interface:

- :class:`StoredRunHandle` follows any run through the metadata store: a run
  queued for a scheduler with :func:`daskflow.api.trigger`, or one found
  with :func:`daskflow.api.run`. It polls the store, so its states lag the
  run by the recorder's batching (a fraction of a second).
- :class:`RunHandle` is what ``dag.submit()`` returns: this process drives
  the run (``execution/submitter.py``), so states come from the run itself
  and a finished task's return value from Dask memory while the run lives.
  Once the run ended everything is read as a stored handle reads it, return
  values from the result store. It can also ``cancel()`` the run.

Both are awaitable: ``await handle`` waits without blocking the event loop
and gives what ``wait()`` gives, a :class:`~daskflow.execution.single_run.RunResult`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import Any

from daskflow.api.progress import TextBar, in_notebook
from daskflow.exceptions import DaskflowError, RunFailedError, XComNotAvailable
from daskflow.execution.single_run import RunResult, TaskResult
from daskflow.models.state import DagRunState, TaskInstanceState

TI = TaskInstanceState
_ENDED = (DagRunState.SUCCESS.value, DagRunState.FAILED.value)
#: Seconds between two looks at the store while waiting on a stored run.
POLL_INTERVAL = 0.5


def instance_name(task_id: str, map_index: int) -> str:
    """``"t"`` or ``"t[3]"`` for a mapped instance, as ``RunResult.tasks`` names them."""
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


class StoredRunHandle:
    """A run followed through the metadata store (see the module docstring)."""

    poll_interval = POLL_INTERVAL
    #: Whether ``done()`` answers without I/O (and may run on an event loop's thread).
    _done_is_cheap = False

    def __init__(self, dag_id: str, run_id: str, db: str | None = None) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.db = db

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.dag_id} {self.run_id} {self.state()}>"

    @property
    def _store(self) -> Any:
        from daskflow.api.read import open_store

        return open_store(self.db)

    def _record(self) -> Any:
        record = self._store.get_dag_run(self.dag_id, self.run_id)
        if record is None:
            raise DaskflowError(f"DAG {self.dag_id!r} has no run {self.run_id!r} in the "
                                "metadata store (was it deleted, or is db another store?)")
        return record

    # -- state ------------------------------------------------------------------------
    def state(self) -> str:
        """The run's state: ``queued``, ``running``, ``success`` or ``failed``."""
        return self._record().state

    def task_states(self) -> dict[str, str | None]:
        """Each task instance's state by name (``"t[3]"`` for a mapped instance)."""
        return {instance_name(t.task_id, t.map_index): t.state
                for t in self._store.list_task_instances(self.dag_id, self.run_id)}

    def done(self) -> bool:
        return self.state() in _ENDED

    def _counts(self) -> dict[str, int]:
        return self._store.task_state_counts(self.dag_id, self.run_id)

    # -- waiting ----------------------------------------------------------------------
    def wait(self, timeout: float | None = None, progress: bool | None = None) -> RunResult:
        """Wait for the run to end and return its :class:`RunResult`.

        ``timeout`` (seconds) raises :class:`TimeoutError` naming the run and
        how far it got. ``progress``: a text bar of finished tasks; by default
        shown only in a Jupyter notebook.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = TextBar() if (in_notebook() if progress is None else progress) else None
        try:
            while not self._wait_step(deadline):
                if bar is not None:
                    bar.update(self._counts())
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"DAG {self.dag_id!r} run {self.run_id!r} did not end within "
                        f"{timeout} s (it is {self.state()}; tasks: {self._counts()})")
            if bar is not None:
                bar.update(self._counts())
        finally:
            if bar is not None:
                bar.close()
        return self.run_result()

    def _wait_step(self, deadline: float | None) -> bool:
        """Wait a little (not past ``deadline``); whether the run has ended."""
        if self.done():
            return True
        pause = self.poll_interval
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.monotonic()))
        time.sleep(pause)
        return self.done()

    def __await__(self) -> Generator[Any, None, RunResult]:
        return self.wait_async().__await__()

    async def wait_async(self, timeout: float | None = None) -> RunResult:
        """``wait()`` for async code: the event loop runs on while the run does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self.done() if self._done_is_cheap else await asyncio.to_thread(self.done)):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"DAG {self.dag_id!r} run {self.run_id!r} did not end "
                                   f"within {timeout} s")
            await asyncio.sleep(self.poll_interval)
        return await asyncio.to_thread(self.run_result)

    # -- what the run produced ------------------------------------------------------------
    def run_result(self) -> RunResult:
        """The run as the store has it now: states, tries, durations, errors, values."""
        record = self._record()
        errors: dict[tuple[str, int], str | None] = {}
        for attempt in self._store.list_run_attempts(self.dag_id, self.run_id):
            errors[(attempt.task_id, attempt.map_index)] = attempt.error  # the last try wins
        tasks = {}
        for t in self._store.list_task_instances(self.dag_id, self.run_id):
            error = errors.get((t.task_id, t.map_index)) if t.state in (
                TI.FAILED.value, TI.UP_FOR_RETRY.value) else None
            tasks[instance_name(t.task_id, t.map_index)] = TaskResult(
                t.task_id, t.map_index, t.state or "none", t.try_number, t.duration, error,
                t.result_ref)
        return RunResult(self.dag_id, self.run_id, record.state, record.logical_date, tasks,
                         record.reason)

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the run; every task's return value by task id (a list for a mapped task).

        A failed run raises :class:`RunFailedError` naming each failed task and its error.
        """
        return _values_or_raise(self.wait(timeout))

    def xcom(self, task_id: str, map_index: int | None = None) -> Any:
        """The return value of a finished task (of all its mapped instances, as a list, if
        ``map_index`` is None), from the result store."""
        return self.run_result().xcom(task_id, map_index)

    def logs(self, task_id: str, map_index: int = -1, try_number: int | None = None) -> str:
        """The log of a task instance's latest attempt (or of ``try_number``)."""
        from daskflow.api.read import log

        return log(self.dag_id, self.run_id, task_id, map_index, try_number, db=self.db)


class RunHandle(StoredRunHandle):
    """A run this process drives, returned by ``dag.submit()`` (see the module docstring)."""

    poll_interval = 0.02
    _done_is_cheap = True

    def __init__(self, live: Any, db: str | None) -> None:
        super().__init__(live.dag_id, live.run_id, db=db)
        self._live = live

    @property
    def _store(self) -> Any:
        return self._live.submitter.store

    def _raise_if_broken(self) -> None:
        if self._live.error is not None:
            raise DaskflowError(f"DAG {self.dag_id!r} run {self.run_id!r}: "
                                f"{self._live.error}") from self._live.error

    def state(self) -> str:
        self._raise_if_broken()
        if self._live.done.is_set():
            return self._live.state
        return DagRunState.RUNNING.value

    def done(self) -> bool:
        self._raise_if_broken()
        return self._live.done.is_set()

    def task_states(self) -> dict[str, str | None]:
        instances = self._instances()
        if instances is None:
            return super().task_states()
        return {instance_name(t, m): i.state.value for (t, m), i in sorted(instances.items())}

    def _counts(self) -> dict[str, int]:
        instances = self._instances()
        if instances is None:
            return super()._counts()
        counts: dict[str, int] = {}
        for instance in instances.values():
            counts[instance.state.value] = counts.get(instance.state.value, 0) + 1
        return counts

    def _instances(self) -> dict[tuple[str, int], Any] | None:
        """A copy of the live run's instances, or None once the run is not driven here."""
        execution = self._live.execution
        if execution is None:
            return None
        for _ in range(10):
            try:  # the driver thread may add instances (a mapped task) meanwhile
                return dict(execution.instances)
            except RuntimeError:
                continue
        return None

    def _wait_step(self, deadline: float | None) -> bool:
        from daskflow.execution.submitter import wait_until

        step = time.monotonic() + 0.2
        ended = wait_until(self._live.done, step if deadline is None else min(step, deadline))
        self._raise_if_broken()
        return ended

    def cancel(self, timeout: float = 30) -> str:
        """Mark the run failed, as Airflow's "mark run failed" does, and wait for it.

        Task instances running now end ``failed`` (Dask cannot stop a running
        thread: its code runs to its end, and what it reports is ignored);
        those not started end ``skipped``; finished ones keep their state.
        Returns the run's state (``success`` if it ended before the cancel).
        """
        if not self._live.done.is_set():
            self._live.submitter.cancel(self._live, "marked failed by RunHandle.cancel()")
            if not self._live.done.wait(timeout):
                raise TimeoutError(f"DAG {self.dag_id!r} run {self.run_id!r} was not marked "
                                   f"failed within {timeout} s")
        return self.state()

    def xcom(self, task_id: str, map_index: int | None = None) -> Any:
        """The return value of a finished task: from Dask memory while the run lives,
        from the result store after (a list of all mapped instances' if ``map_index``
        is None)."""
        instances = self._instances()
        if instances is not None:
            found = sorted((m, i) for (t, m), i in instances.items() if t == task_id)
            if found:
                mapped = found[0][0] >= 0
                wanted = [i for m, i in found if (map_index is None and mapped)
                          or m == (-1 if map_index is None else map_index)]
                values = [self._from_memory(i) for i in wanted]
                if wanted and all(v is not _MISSING for v in values):
                    return values if map_index is None and mapped else values[0]
        return super().xcom(task_id, map_index)

    def _from_memory(self, instance: Any) -> Any:
        """The instance's value from its Dask future, or ``_MISSING`` when the future is
        gone (the run just ended: the result store has it)."""
        execution = self._live.execution
        if instance.state is not TI.SUCCESS:
            if instance.state in (TI.SKIPPED, TI.REMOVED):
                return None
            name = instance_name(instance.task_id, instance.map_index)
            if instance.finished:
                why = f": {instance.error}" if instance.error else ""
                raise XComNotAvailable(
                    f"DAG {self.dag_id!r} run {self.run_id!r} task {name!r} has no return "
                    f"value: it is {instance.state.value}{why}")
            raise XComNotAvailable(
                f"DAG {self.dag_id!r} run {self.run_id!r} task {name!r} has not finished "
                f"(it is {instance.state.value}); wait() for the run first")
        future = execution.futures.get(instance.key) if execution is not None else None
        if future is None or future.status != "finished":
            return _MISSING
        return future.result().value


_MISSING = object()


def _values_or_raise(result: RunResult) -> dict[str, Any]:
    if result.state != DagRunState.SUCCESS.value:
        failed = "; ".join(f"{name}: {error}" for name, error in result.errors.items())
        raise RunFailedError(f"DAG {result.dag_id!r} run {result.run_id!r} {result.state}"
                             + (f" ({failed})" if failed else "")
                             + (f": {result.reason}" if result.reason else ""))
    return result.values
