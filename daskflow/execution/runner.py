"""The one place runs are driven from: ``dag.test()``, the scheduler loop and backfills.

A :class:`Runner` drives any number of runs on one Dask client for one owner
(a scheduler loop, or the process running ``dag.test()``). It holds what
driving a run takes, once:

- the runs' :class:`~daskflow.execution.run.RunExecution` objects and the
  :class:`~daskflow.execution.driver.Driver` feeding them the cluster's events;
- ownership (``execution/ownership.py``): heartbeats from a thread of their
  own, fencing tokens on every write, leases the cluster checks before a task
  starts; a run another process adopted is dropped and its keys cancelled;
- the recorder, flushed in batches and before every run's end is written;
- timers (retry delays, fired by the driver's ``step``), ``dagrun_timeout``,
  ``depends_on_past`` holds, stalls, and a Dask scheduler that restarted;
- finishing: the run's state (fenced), then DAG callbacks and notifications;
  task callbacks and notifications for every attempt outcome, all from
  threads of their own.

What differs between callers is only where runs come from: the loop claims
them from the store (``scheduler/loop.py``), ``dag.test()`` creates one
(``execution/single_run.py``), a backfill creates its range and lets a loop
claim them (``cli/backfill.py``). Each hands a run to :meth:`Runner.drive`
and calls :meth:`Runner.step` and :meth:`Runner.tick` until it is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from daskflow import config
from daskflow.exceptions import DagVersionError
from daskflow.execution import cluster_plugins, gc_pacing
from daskflow.execution.callbacks import TaskCallbacks, dag_callbacks
from daskflow.execution.callbacks import call as call_callback
from daskflow.execution.driver import Driver
from daskflow.execution.ownership import Ownership
from daskflow.execution.recorder import Recorder
from daskflow.execution.report import Report
from daskflow.execution.resume import run_info, stored_instances
from daskflow.execution.run import RunExecution
from daskflow.models.state import DagRunState, TaskInstanceState
from daskflow.store import RunLostError

logger = logging.getLogger("daskflow.scheduler")
TI = TaskInstanceState
RunKey = tuple[str, str]


class Runner:
    """Drives runs on one Dask client for one owner (see the module docstring)."""

    def __init__(self, store: Any, client: Any, owner: str, *,
                 dag_for: Callable[[Any], Any],
                 results_url: str | None = None, notifier: Any = None,
                 heartbeat_interval: float = 2.0, stale_after: float = 10.0,
                 record_interval: float | None = None,
                 held: Callable[[Any, Any], set[str]] | None = None,
                 on_closed: Callable[[RunKey, DagRunState, datetime, str | None,
                                      RunExecution | None], None] | None = None) -> None:
        self.store = store
        self.client = client
        self.owner = owner
        #: The DAG a run record runs; raises DagVersionError when it cannot be had.
        self.dag_for = dag_for
        self.results_url = results_url
        self.notifier = notifier
        self.heartbeat_interval = heartbeat_interval
        #: Called with (run key, state, when, reason, execution or None) once a run ended.
        self.on_closed = on_closed
        #: The tasks of a run the previous run holds back (``depends_on_past``,
        #: ``wait_for_downstream``); None: nothing is held (``dag.test()``).
        self.held = held
        self.stall_timeout = float(config.get("stall-timeout", 300))
        cluster_plugins.install(client)
        self.ownership = Ownership(store.with_retries(0), owner, client,
                                   interval=heartbeat_interval, stale_after=stale_after)
        recorder_options = {} if record_interval is None else {"interval": record_interval}
        self.recorder = Recorder(store, owner=owner, fences=self.ownership.fences,
                                 on_lost=self.ownership.mark_lost, **recorder_options)
        self.driver = Driver(client, self.recorder)
        self.executions: dict[RunKey, RunExecution] = {}
        #: Runs taken from this owner (adopted elsewhere, or cleared) since it began.
        self.lost: set[RunKey] = set()
        self.callbacks = ThreadPoolExecutor(2, thread_name_prefix="daskflow-callbacks")
        self.task_callbacks = TaskCallbacks()
        self.stopping = False
        self._next_check = 0.0
        self.ownership.push_leases()
        self._scheduler_id = self.ownership.scheduler_id
        gc_pacing.pace(int(config.get("gc-full-every", gc_pacing.FULL_EVERY)))

    # -- taking runs ----------------------------------------------------------------
    def drive(self, run: Any, fence: int, now: datetime) -> RunExecution | None:
        """Drive the run ``run`` (a store record this owner holds with ``fence``)."""
        self.ownership.hold((run.dag_id, run.run_id), fence, now.timestamp())
        return self._resume(run, now)

    def _resume(self, run: Any, now: datetime, dag: Any = None) -> RunExecution | None:
        """Build the run's execution from the store: what succeeded is not run again."""
        key = (run.dag_id, run.run_id)
        previous = self.executions.pop(key, None)
        if previous is not None:
            # Cleared while this owner drove it: the old execution's keys go away.
            self.driver.remove(previous)
        if dag is None:
            try:
                dag = self.dag_for(run)
            except DagVersionError as exc:
                self._set_state(key, DagRunState.FAILED, now, reason=str(exc))
                self.ownership.release(key)
                logger.error("run %s of DAG %r failed: %s", run.run_id, run.dag_id, exc)
                if self.on_closed is not None:
                    self.on_closed(key, DagRunState.FAILED, now, str(exc), None)
                return None
        pools = {p.name: p.slots for p in self.store.list_pools()}
        execution = RunExecution(dag, run_info(run), self.client, self.recorder,
                                 self.driver.topic, results_url=self.results_url,
                                 store_url=_store_url(self.store),
                                 stored=stored_instances(self.store, *key), pools=pools,
                                 lease=lambda: self.ownership.lease(key))
        self.executions[key] = execution
        self.driver.add(execution, hold=self._held_tasks(dag, run))
        return execution

    def _held_tasks(self, dag: Any, run: Any) -> set[str]:
        return set() if self.held is None else self.held(dag, run)

    # -- driving ----------------------------------------------------------------------
    def step(self, max_wait: float) -> None:
        """Wait up to ``max_wait`` for the cluster, hand what came to the runs, fire timers."""
        self.driver.step(max_wait)

    def tick(self, now: datetime) -> None:
        """Everything between cluster events: ownership, callbacks, timeouts, ends, checks."""
        self.ownership.start()
        self.follow_ownership(now)
        self._notify_task_ends()
        self._time_out_runs(now)
        self._finish_runs(now)
        mono = time.monotonic()
        if mono >= self._next_check:
            self._next_check = mono + self.heartbeat_interval
            self._check_runs(now)

    def follow_ownership(self, now: datetime) -> None:
        """Let go of lost runs, take up owned ones nobody drives, re-run refused keys."""
        for key in self.ownership.take_lost():
            self.lost.add(key)
            if key in self.executions:
                self._drop(key, "another loop adopted it or a user cleared it")
        for key, fence in self.ownership.take_unknown().items():
            if key in self.executions or self.stopping:
                continue
            record = self.store.get_dag_run(*key)
            if record is None or record.owner_loop != self.owner or record.fence != fence \
                    or record.state != DagRunState.RUNNING.value:
                continue
            # Claimed by this owner, but the answer never arrived (the connection broke).
            self.drive(record, fence, now)
        for key, execution in self.executions.items():
            if execution.refused and self.ownership.lease_valid(key):
                execution.retry_refused()

    def _drop(self, key: RunKey, why: str) -> None:
        """Stop driving a run this owner no longer owns, and cancel its keys on the cluster."""
        execution = self.executions.pop(key, None)
        self.ownership.release(key)
        if execution is None:
            return
        logger.warning("run %s of DAG %r is no longer driven by loop %s (%s); its keys are "
                       "cancelled", key[1], key[0], self.owner, why)
        self.driver.remove(execution, cancel=True)

    def _check_runs(self, now: datetime) -> None:
        """Every heartbeat interval: ``depends_on_past`` holds, stalls, a restarted scheduler."""
        for execution in self.executions.values():
            if execution.hold:
                execution.set_hold(self._held_tasks(execution.dag, self._record(execution)))
        scheduler_id = self.ownership.scheduler_id
        if scheduler_id is not None and scheduler_id != self._scheduler_id:
            self._scheduler_id = scheduler_id
            self._resubmit_all(now)
            return
        mono = time.monotonic()
        for key, execution in list(self.executions.items()):
            if execution.check_stall(mono, self.stall_timeout):
                logger.warning("DAG %r run %r: Dask lost keys of the run; resubmitting it "
                               "from the store", *key)
                self._resubmit(key, now)

    def _record(self, execution: RunExecution) -> Any:
        return self.store.get_dag_run(execution.run.dag_id, execution.run.run_id)

    def _resubmit_all(self, now: datetime) -> None:
        """The Dask scheduler restarted and forgot every key: resume each run from the store."""
        logger.warning("the Dask scheduler restarted; resubmitting %d runs", len(self.executions))
        self.driver.resubscribe()
        self.recorder.flush()
        for key in list(self.executions):
            self._resubmit(key, now)

    def _resubmit(self, key: RunKey, now: datetime) -> None:
        """Rebuild a run's graph from the store (its old keys are gone or going)."""
        self.recorder.flush()
        self._notify_task_ends()
        execution = self.executions.pop(key)
        self.driver.remove(execution)
        record = self._record(execution)
        if record is not None and record.owner_loop == self.owner:
            self._resume(record, now, dag=execution.dag)

    # -- finishing ------------------------------------------------------------------
    def _finish_runs(self, now: datetime) -> None:
        done = [e for e in self.executions.values() if e.finished]
        if not done:
            return
        self.recorder.flush()
        for execution in done:
            self._close(execution, execution.final_state(), now,
                        reason=execution.decisions.plan.failure)

    def _close(self, execution: RunExecution, state: DagRunState, now: datetime,
               reason: str | None = None) -> None:
        run = execution.run
        key = (run.dag_id, run.run_id)
        self._notify_task_ends()
        try:
            self._set_state(key, state, now, reason=reason)
        except RunLostError:
            self.lost.add(key)
            self._drop(key, "its end could not be recorded")
            return
        self.driver.remove(execution)
        del self.executions[key]
        self.ownership.release(key)
        for callback, context in dag_callbacks(execution.dag, run, state.value, reason):
            self.callbacks.submit(call_callback, callback, context, _store_url(self.store))
        if self.notifier is not None:
            self._notify_run(execution, state, reason)
        if self.on_closed is not None:
            self.on_closed(key, state, now, reason, execution)

    def _set_state(self, key: RunKey, state: DagRunState, now: datetime,
                   reason: str | None = None) -> None:
        """End a run this owner holds (fenced: :class:`RunLostError` if it lost it)."""
        self.store.set_dag_run_state(*key, state.value, end_date=now, clear_owner=True,
                                     owner=self.owner, fence=self.ownership.fence(key),
                                     reason=reason)

    def _time_out_runs(self, now: datetime) -> None:
        for execution in list(self.executions.values()):
            timeout = execution.dag.dagrun_timeout
            start = execution.run.start_date
            if timeout is None or start is None or now - start <= timeout:
                continue
            execution.stop(reason="dagrun_timeout")
            self.recorder.flush()
            self._close(execution, DagRunState.FAILED, now,
                        reason=f"the run exceeded dagrun_timeout ({timeout})")

    def fail(self, key: RunKey, now: datetime, reason: str, running_as: TI | None = None
             ) -> None:
        """End a run as failed now, whatever it was doing (Ctrl-C on ``dag.test()``).

        ``running_as``: the state running task instances end in (skipped if not
        given; ``FAILED`` when a user marks the run failed, as in Airflow).
        """
        execution = self.executions.get(key)
        try:
            if execution is None:
                self._set_state(key, DagRunState.FAILED, now, reason=reason)
                return
            execution.stop(reason=reason, running_as=running_as)
            self.recorder.flush()
            self._close(execution, DagRunState.FAILED, now, reason=reason)
        except Exception:  # the store is gone or the run was taken: nothing more to do
            logger.warning("could not mark run %s of DAG %r failed", key[1], key[0],
                           exc_info=True)

    def shutdown(self, record: bool = True, release: bool = True) -> None:
        """Stop driving: flush what was recorded and let the runs be adopted at once.

        ``record=False`` (the store stayed unavailable) writes nothing more: the
        runs go stale and are adopted, and what was not recorded runs again.
        """
        self.stopping = True
        self.ownership.stop()
        if record:
            self.recorder.flush()
            self._notify_task_ends()
        for execution in list(self.executions.values()):
            self.driver.remove(execution)
        self.executions.clear()
        if record and release:
            self.store.release_runs(self.owner)
        self.driver.close(flush=record)
        self.callbacks.shutdown(wait=True)
        self.ownership.store.dispose()

    # -- notifications --------------------------------------------------------------
    def _notify_task_ends(self) -> None:
        """Task callbacks and notifications for the attempts that ended, off this thread."""
        for execution in self.executions.values():
            ended, execution.ended = execution.ended, []
            for task, report in ended:
                for callback, context in self.task_callbacks.due(execution.dag, execution.run,
                                                                 task, report):
                    self.callbacks.submit(call_callback, callback, context,
                                          _store_url(self.store))
                if self.notifier is not None and report.state in ("failed", "up_for_retry"):
                    self._notify_task(execution, task, report)

    def _notify_task(self, execution: RunExecution, task: Any, report: Report) -> None:
        from daskflow.notifications import notices_for_task

        notices = notices_for_task(
            task, report.state, run_id=execution.run.run_id,
            logical_date=execution.run.logical_date, map_index=report.map_index,
            try_number=report.try_number or 1, error=report.error, log=report.log)
        for notice in notices:
            self.notifier.notify(task, notice)

    def _notify_run(self, execution: RunExecution, state: DagRunState, reason: str | None
                    ) -> None:
        from daskflow.notifications import notices_for_run

        for notice in notices_for_run(execution.dag, state.value, run_id=execution.run.run_id,
                                      logical_date=execution.run.logical_date, error=reason):
            self.notifier.notify(execution.dag, notice)


def _store_url(store: Any) -> str | None:
    """The URL of ``store`` for the run's tasks, whose lookups of connections and
    variables must reach the store this runner records to (given with ``--db`` or not)."""
    url = getattr(store, "url", None)
    render = getattr(url, "render_as_string", None)
    return render(hide_password=False) if render is not None else None
