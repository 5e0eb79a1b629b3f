"""The scheduler loop: keeps every DAG of a folder running on time.

One loop drives any number of runs on one Dask client. Each ``tick(now)``:

1. re-parses changed DAG files (``dag_folder.py``);
2. creates the scheduled runs that are due (``planning.py``); the unique
   (dag_id, logical_date) constraint makes a second loop's attempt harmless;
3. claims runs nobody drives (new queued runs, manual triggers, cleared runs,
   and the orphans of a dead loop) and resumes each from the store, so tasks
   that succeeded are not run again (docs/reliability.md);
4. finishes runs whose task instances all finished, fails runs past their
   ``dagrun_timeout``, and sends callbacks and notifications from threads of
   its own, never its own thread;
5. lets go of runs another loop took (cancelling their keys), and re-runs the
   keys whose nodes found the run's lease expired once it is renewed.

Proving it is alive is not the tick's job: heartbeats come from a thread of
their own (``execution/ownership.py``), so a slow tick or a slow store call
never makes the loop look dead. Every write for a run is fenced: it goes
through only while this loop still owns the run with the fence it claimed
it with (``store/fencing.py``), and the cluster starts a run's tasks only
while the loop's lease on it runs (``execution/lease.py``).

Between ticks the Driver waits for what the cluster reports. The loop holds
no state the store does not have: killed at any instant, a new loop (or a
second one on the same PostgreSQL) carries on.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from daskflow import config
from daskflow.exceptions import DagVersionError
from daskflow.execution import cluster_plugins
from daskflow.execution.callbacks import TaskCallbacks, dag_callbacks
from daskflow.execution.callbacks import call as call_callback
from daskflow.execution.driver import Driver
from daskflow.execution.ownership import Ownership
from daskflow.execution.recorder import Recorder
from daskflow.execution.resume import run_info, stored_instances
from daskflow.execution.run import RunExecution
from daskflow.models.state import DagRunState, TaskInstanceState
from daskflow.schedule import DataInterval
from daskflow.scheduler.cross_run import held_tasks
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.dagbag import load_dag_version
from daskflow.scheduler.planning import (
    DagScheduleState,
    next_due,
    runs_to_create,
    scheduled_run_id,
)
from daskflow.scheduler.retention import purge_results
from daskflow.store import RunExistsError, RunLostError, StoreUnavailable

logger = logging.getLogger("daskflow.scheduler")
TI = TaskInstanceState
#: Longest time between sweeps that delete outcomes finished runs no longer need.
PURGE_INTERVAL = 30.0
NO_DAG_REASON = ("waiting: no running scheduler's DAG folder defines this DAG (its file was "
                 "removed or renamed, or fails to import: see `daskflow dags "
                 "list-import-errors`)")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SchedulerLoop:
    """Creates, claims, drives and finishes runs for the DAGs of one folder."""

    def __init__(self, folder: DagFolder, store: Any, client: Any, *,
                 results_url: str | None = None, notifier: Any = None,
                 loop_id: str | None = None, heartbeat_interval: float = 2.0,
                 stale_after: timedelta = timedelta(seconds=10), parse_interval: float = 5.0,
                 create_scheduled: bool = True, max_runs: int = 64) -> None:
        self.folder = folder
        self.store = store
        self.client = client
        self.results_url = results_url
        self.notifier = notifier
        self.loop_id = loop_id or f"{socket.gethostname()}-{secrets.token_hex(4)}"
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.parse_interval = parse_interval
        self.create_scheduled = create_scheduled
        self.max_runs = max_runs
        self.stall_timeout = float(config.get("stall-timeout", 300))
        self.results_retention = float(config.get("results-retention", 86400))
        cluster_plugins.install(client)
        self.ownership = Ownership(store.with_retries(0), self.loop_id, client,
                                   interval=heartbeat_interval,
                                   stale_after=stale_after.total_seconds())
        self.recorder = Recorder(store, owner=self.loop_id, fences=self.ownership.fences,
                                 on_lost=self.ownership.mark_lost)
        self.driver = Driver(client, self.recorder)
        self.executions: dict[tuple[str, str], RunExecution] = {}
        self.callbacks = ThreadPoolExecutor(2, thread_name_prefix="daskflow-callbacks")
        self.task_callbacks = TaskCallbacks()
        self._look_again: dict[str, datetime] = {}
        self._next_parse = 0.0
        self._next_check = 0.0
        self._next_purge = 0.0
        self._purging: Any = None
        self._explained = False
        self.ownership.push_leases()
        self._scheduler_id = self.ownership.scheduler_id
        self.stopping = False

    # -- the tick -------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        """One pass of the loop at time ``now`` (see the module docstring)."""
        self.ownership.start()
        mono = time.monotonic()
        if mono >= self._next_parse:
            self._next_parse = mono + self.parse_interval
            changes = self.folder.refresh()
            if changes.changed:
                self._look_again.clear()
            if changes.changed or changes.removed or changes.errors or not self._explained:
                self._explain_waiting_runs()
        self._follow_ownership(now)
        if self.create_scheduled:
            self.create_due_runs(now)
        if not self.stopping:
            self.claim(now)
        self._notify_task_ends()
        self._time_out_runs(now)
        self._finish_runs(now)
        if mono >= self._next_check:
            self._next_check = mono + self.heartbeat_interval
            self._check_runs(now)
        if mono >= self._next_purge and self.results_url is not None \
                and (self._purging is None or self._purging.done()):
            self._next_purge = mono + min(PURGE_INTERVAL, max(1.0, self.results_retention / 10))
            self._purging = self.callbacks.submit(
                purge_results, self.store, self.results_url, now, self.results_retention)

    def serve(self, stop: threading.Event, max_wait: float = 0.2) -> None:
        """Tick until ``stop`` is set; then leave running runs for another loop."""
        store_gone = False
        try:
            while not stop.is_set():
                now = utcnow()
                self.tick(now)
                self.driver.step(self._wait_before_next_tick(now, max_wait))
        except StoreUnavailable:
            store_gone = True  # for longer than daskflow.store-retry-for: give up
            raise
        finally:
            self.shutdown(record=not store_gone)

    def _wait_before_next_tick(self, now: datetime, max_wait: float) -> float:
        """Up to ``max_wait``, but no later than the next scheduled run falls due."""
        soonest = min(self._look_again.values(), default=None)
        if soonest is None:
            return max_wait
        return max(0.01, min(max_wait, (soonest - now).total_seconds()))

    def shutdown(self, record: bool = True) -> None:
        """Stop driving: flush what was recorded and let the runs be adopted at once.

        ``record=False`` (the store stayed unavailable) writes nothing more: the
        runs go stale and are adopted, and what was not recorded runs again.
        """
        self.stopping = True
        self.ownership.stop()
        if record:
            self.recorder.flush()
        for execution in list(self.executions.values()):
            self.driver.remove(execution)
        self.executions.clear()
        if record:
            self.store.release_runs(self.loop_id)
        self.driver.close(flush=record)
        self.callbacks.shutdown(wait=True)
        self.ownership.store.dispose()

    # -- creating scheduled runs ----------------------------------------------------
    def create_due_runs(self, now: datetime) -> int:
        """Create every scheduled run that is due; return how many were created."""
        due = [d for d in self.folder.dags.values()
               if self._look_again.get(d.dag_id, now) <= now]
        if not due:
            return 0
        paused = self.store.paused_dag_ids()
        latest = self.store.latest_scheduled_intervals()
        active = self.store.active_run_counts()
        created = 0
        for dag in due:
            state = DagScheduleState(
                dag_id=dag.dag_id, timetable=dag.timetable, start_date=dag.start_date,
                end_date=dag.end_date, catchup=dag.catchup, max_active_runs=dag.max_active_runs,
                is_paused=dag.dag_id in paused,
                last_scheduled=DataInterval(*latest[dag.dag_id]) if dag.dag_id in latest else None,
                active_runs=active.get(dag.dag_id, 0))
            infos = runs_to_create(state, now)
            created += sum(self._create_run(dag, info) for info in infos)
            self._look_again[dag.dag_id] = self._when_to_look(state, infos, now)
        return created

    def _create_run(self, dag: Any, info: Any) -> bool:
        try:
            self.store.create_dag_run(
                dag.dag_id, scheduled_run_id(info.logical_date), info.logical_date,
                info.data_interval.start, info.data_interval.end, "scheduled", {},
                state="queued", external_trigger=False,
                dag_version=self.folder.versions.get(dag.dag_id))
        except RunExistsError:
            return False  # another loop created it first: exactly one run per interval
        return True

    def _explain_waiting_runs(self) -> None:
        """Queued runs of DAGs this loop cannot load say so (``runs list``), not just wait."""
        self._explained = True
        self.store.explain_queued_runs(self.folder.dags.keys(), NO_DAG_REASON)

    def _when_to_look(self, state: DagScheduleState, infos: list, now: datetime) -> datetime:
        soon = now + timedelta(seconds=1)
        if state.is_paused or state.active_runs + len(infos) >= state.max_active_runs:
            return soon  # paused or full: check again shortly
        last = infos[-1].data_interval if infos else state.last_scheduled
        due = next_due(replace(state, last_scheduled=last), now)
        if due is None:
            return datetime.max.replace(tzinfo=timezone.utc)
        # Still due after creating what could be created: something holds it back
        # (a full DAG, a conflicting run); look again shortly rather than spin.
        return due if due > now else soon

    # -- claiming and resuming runs -------------------------------------------------
    def claim(self, now: datetime) -> list[RunExecution]:
        room = self.max_runs - len(self.executions)
        caps = {d.dag_id: d.max_active_runs for d in self.folder.dags.values()}
        if room <= 0 or not self.store.has_claimable(self.loop_id, now, self.stale_after,
                                                      caps.keys(), caps):
            return []
        started = []
        claimed = self.store.claim_runs(self.loop_id, now, room, self.stale_after, caps,
                                        dag_ids=set(self.folder.dags))
        for run in claimed:
            self.ownership.hold((run.dag_id, run.run_id), run.fence, now.timestamp())
            execution = self._resume(run, now)
            if execution is not None:
                started.append(execution)
        return started

    def _resume(self, run: Any, now: datetime) -> RunExecution | None:
        previous = self.executions.pop((run.dag_id, run.run_id), None)
        if previous is not None:
            # Cleared while this loop drove it: the old execution's keys go away.
            self.driver.remove(previous)
        key = (run.dag_id, run.run_id)
        try:
            dag = self._dag_for(run)
        except DagVersionError as exc:
            self._set_state(key, DagRunState.FAILED, now, reason=str(exc))
            self.ownership.release(key)
            logger.error("run %s of DAG %r failed: %s", run.run_id, run.dag_id, exc)
            return None
        if dag is not None and run.dag_version is None and run.dag_id in self.folder.versions:
            # Queued by a trigger, which records no code: it runs this loop's version.
            self.store.set_dag_run_version(*key, self.folder.versions[run.dag_id])
        if dag is None:
            self._set_state(key, DagRunState.FAILED, now,
                            reason=f"the DAG is no longer in {self.folder.folder}")
            self.ownership.release(key)
            logger.error("run %s of DAG %r failed: the DAG is no longer in %s",
                         run.run_id, run.dag_id, self.folder.folder)
            return None
        stored = stored_instances(self.store, run.dag_id, run.run_id)
        info = run_info(run)
        pools = {p.name: p.slots for p in self.store.list_pools()}
        execution = RunExecution(dag, info, self.client, self.recorder, self.driver.topic,
                                 results_url=self.results_url, stored=stored, pools=pools,
                                 lease=lambda: self.ownership.lease(key))
        execution.hold = self._held_tasks(dag, run)
        self.executions[(run.dag_id, run.run_id)] = execution
        self.driver.add(execution)
        return execution

    def _dag_for(self, run: Any) -> Any:
        """The DAG as the run was created: its version, even if the file changed since.

        An old version is built from its stored source, which must be signed
        (``versions.py``); when it cannot be built this raises
        :class:`DagVersionError` and the run fails: it must never run the
        current file's code instead of its own.
        """
        current = self.folder.dags.get(run.dag_id)
        if run.dag_version is None or self.folder.versions.get(run.dag_id) == run.dag_version:
            return current
        return load_dag_version(self.store, run.dag_version, run.dag_id)

    def _held_tasks(self, dag: Any, run: Any) -> set[str]:
        """Tasks held back by the previous run (``depends_on_past``, ``wait_for_downstream``)."""
        return held_tasks(self.store, dag, run)

    # -- finishing ------------------------------------------------------------------
    def _finish_runs(self, now: datetime) -> None:
        done = [e for e in self.executions.values() if e.finished]
        if not done:
            return
        self.recorder.flush()
        for execution in done:
            state = execution.final_state()
            self._close(execution, state, now, reason=execution.plan.failure)

    def _close(self, execution: RunExecution, state: DagRunState, now: datetime,
               reason: str | None = None) -> None:
        run = execution.run
        key = (run.dag_id, run.run_id)
        try:
            self._set_state(key, state, now, reason=reason)
        except RunLostError:
            self._drop(key, "its end could not be recorded")
            return
        self.driver.remove(execution)
        del self.executions[key]
        self.ownership.release(key)
        self._look_again.pop(run.dag_id, None)
        for callback, context in dag_callbacks(execution.dag, run, state.value, reason):
            self.callbacks.submit(call_callback, callback, context)
        if self.notifier is not None:
            self._notify_run(execution, state, reason)

    def _set_state(self, key: tuple[str, str], state: DagRunState, now: datetime,
                   reason: str | None = None) -> None:
        """End a run this loop owns (fenced: :class:`RunLostError` if it lost it)."""
        self.store.set_dag_run_state(*key, state.value, end_date=now, clear_owner=True,
                                     owner=self.loop_id, fence=self.ownership.fence(key),
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

    # -- ownership -------------------------------------------------------------------
    def _follow_ownership(self, now: datetime) -> None:
        """Let go of lost runs, take up owned ones nobody drives, re-run refused keys."""
        for key in self.ownership.take_lost():
            if key in self.executions:
                self._drop(key, "another loop adopted it or a user cleared it")
        for key, fence in self.ownership.take_unknown().items():
            if key in self.executions or self.stopping:
                continue
            record = self.store.get_dag_run(*key)
            if record is None or record.owner_loop != self.loop_id or record.fence != fence \
                    or record.state != DagRunState.RUNNING.value:
                continue
            # Claimed by this loop, but the answer never arrived (the connection broke).
            self.ownership.hold(key, fence, now.timestamp())
            self._resume(record, now)
        for key, execution in self.executions.items():
            if execution.refused and self.ownership.lease_valid(key):
                execution.retry_refused()

    def _drop(self, key: tuple[str, str], why: str) -> None:
        """Stop driving a run this loop no longer owns, and cancel its keys on the cluster."""
        execution = self.executions.pop(key, None)
        self.ownership.release(key)
        if execution is None:
            return
        logger.warning("run %s of DAG %r is no longer driven by loop %s (%s); its keys are "
                       "cancelled", key[1], key[0], self.loop_id, why)
        self.driver.remove(execution, cancel=True)

    def _check_runs(self, now: datetime) -> None:
        """Every heartbeat interval: ``depends_on_past`` holds, stalls, a restarted scheduler."""
        for execution in self.executions.values():
            if execution.hold:
                execution.hold = self._held_tasks(execution.dag, self._record(execution))
                execution.submit_ready()
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

    def _resubmit(self, key: tuple[str, str], now: datetime) -> None:
        """Rebuild a run's graph from the store (its old keys are gone or going)."""
        self.recorder.flush()
        execution = self.executions.pop(key)
        self.driver.remove(execution)
        record = self._record(execution)
        if record is not None and record.owner_loop == self.loop_id:
            self._resume(record, now)

    # -- notifications --------------------------------------------------------------
    def _notify_task_ends(self) -> None:
        """Task callbacks and notifications for the attempts that ended, off this thread."""
        for execution in self.executions.values():
            ended, execution.ended = execution.ended, []
            for task, report in ended:
                for callback, context in self.task_callbacks.due(execution.dag, execution.run,
                                                                 task, report):
                    self.callbacks.submit(call_callback, callback, context)
                if self.notifier is not None and report["state"] in ("failed", "up_for_retry"):
                    self._notify_task(execution, task, report)

    def _notify_task(self, execution: RunExecution, task: Any, report: dict) -> None:
        from daskflow.notifications import notices_for_task

        notices = notices_for_task(
            task, report["state"], run_id=execution.run.run_id,
            logical_date=execution.run.logical_date, map_index=report["map_index"],
            try_number=report.get("try") or 1, error=report.get("error"),
            log=report.get("log") or "")
        for notice in notices:
            self.notifier.notify(task, notice)

    def _notify_run(self, execution: RunExecution, state: DagRunState, reason: str | None
                    ) -> None:
        from daskflow.notifications import notices_for_run

        for notice in notices_for_run(execution.dag, state.value, run_id=execution.run.run_id,
                                      logical_date=execution.run.logical_date, error=reason):
            self.notifier.notify(execution.dag, notice)

