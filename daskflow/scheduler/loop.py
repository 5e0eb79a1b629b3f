"""The scheduler loop: keeps every DAG of a folder running on time.

One loop drives any number of runs on one Dask client. Each ``tick(now)``:

1. re-parses changed DAG files (``dag_folder.py``);
2. creates the scheduled runs that are due (``planning.py``); the unique
   (dag_id, logical_date) constraint makes a second loop's attempt harmless;
3. claims runs nobody drives (new queued runs, manual triggers, cleared runs,
   and the orphans of a dead loop) and resumes each from the store, so tasks
   that succeeded are not run again (docs/reliability.md);
4. hands every run it claims to its :class:`~daskflow.execution.runner.Runner`,
   the driver ``dag.test()`` and backfills use too: it finishes runs whose
   task instances all finished, fails runs past their ``dagrun_timeout``,
   sends callbacks and notifications from threads of its own, lets go of
   runs another loop took (cancelling their keys), and re-runs the keys
   whose nodes found the run's lease expired once it is renewed.

Proving it is alive is not the tick's job: heartbeats come from a thread of
their own (``execution/ownership.py``), so a slow tick or a slow store call
never makes the loop look dead. Every write for a run is fenced: it goes
through only while this loop still owns the run with the fence it claimed
it with (``store/fencing.py``), and the cluster starts a run's tasks only
while the loop's lease on it runs (``execution/lease.py``).

Between ticks the runner waits for what the cluster reports. The loop holds
no state the store does not have: killed at any instant, a new loop (or a
second one on the same PostgreSQL) carries on.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from daskflow import config
from daskflow.exceptions import DagVersionError
from daskflow.execution.run import RunExecution
from daskflow.execution.runner import Runner
from daskflow.models.state import DagRunState, TaskInstanceState
from daskflow.schedule import DataInterval
from daskflow.scheduler import events
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
from daskflow.scheduler.tick_times import TickTimes
from daskflow.store import RunExistsError, StoreUnavailable

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
        self.results_retention = float(config.get("results-retention", 86400))
        self.runner = Runner(store, client, self.loop_id, dag_for=self._dag_for,
                             results_url=results_url, notifier=notifier,
                             heartbeat_interval=heartbeat_interval,
                             stale_after=stale_after.total_seconds(), on_closed=self._closed,
                             held=lambda dag, run: held_tasks(store, dag, run))
        self._look_again: dict[str, datetime] = {}
        self._next_parse = 0.0
        self._next_purge = 0.0
        self._purging: Any = None
        self._explained = False
        #: Tick durations for the Dask scheduler's metrics endpoint (``tick_times.py``).
        self.tick_times = TickTimes(client, self.loop_id)

    @property
    def executions(self) -> dict[tuple[str, str], RunExecution]:
        return self.runner.executions

    @property
    def stopping(self) -> bool:
        return self.runner.stopping

    # -- the tick -------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        """One pass of the loop at time ``now`` (see the module docstring)."""
        mono = time.monotonic()
        if mono >= self._next_parse:
            self._next_parse = mono + self.parse_interval
            changes = self.folder.refresh()
            if changes.changed:
                self._look_again.clear()
            if changes.changed or changes.removed or changes.errors or not self._explained:
                self._explain_waiting_runs()
        self.runner.follow_ownership(now)
        if self.create_scheduled:
            self.create_due_runs(now)
        if not self.stopping:
            self.claim(now)
        self.runner.tick(now)
        if mono >= self._next_purge and self.results_url is not None \
                and (self._purging is None or self._purging.done()):
            self._next_purge = mono + min(PURGE_INTERVAL, max(1.0, self.results_retention / 10))
            self._purging = self.runner.callbacks.submit(
                purge_results, self.store, self.results_url, now, self.results_retention)
        self.tick_times.record(time.monotonic() - mono)

    def step(self, max_wait: float = 0.2) -> None:
        """Wait up to ``max_wait`` for what the cluster reports, and hand it to the runs."""
        self.runner.step(max_wait)

    def serve(self, stop: threading.Event, max_wait: float = 0.2) -> None:
        """Tick until ``stop`` is set; then leave running runs for another loop."""
        store_gone = False
        try:
            while not stop.is_set():
                now = utcnow()
                self.tick(now)
                self.step(self._wait_before_next_tick(now, max_wait))
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
        self.runner.shutdown(record=record)

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
        events.run_created(dag.dag_id, scheduled_run_id(info.logical_date), "scheduled")
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
            events.run_started(run, now)
            execution = self.runner.drive(run, run.fence, now)
            if execution is not None:
                started.append(execution)
        return started

    def _dag_for(self, run: Any) -> Any:
        """The DAG as the run was created: its version, even if the file changed since.

        An old version is built from its stored source, which must be signed
        (``versions.py``); when it cannot be built this raises
        :class:`DagVersionError` and the run fails: it must never run the
        current file's code instead of its own. A run queued by a trigger
        (which records no code) runs this loop's version, recorded now.
        """
        current = self.folder.dags.get(run.dag_id)
        if current is None:
            raise DagVersionError(f"the DAG is no longer in {self.folder.folder}")
        version = self.folder.versions.get(run.dag_id)
        if run.dag_version is None:
            if version is not None:
                self.store.set_dag_run_version(run.dag_id, run.run_id, version)
            return current
        if version == run.dag_version:
            return current
        return load_dag_version(self.store, run.dag_version, run.dag_id)

    def _closed(self, key: tuple[str, str], state: DagRunState, now: datetime,
                reason: str | None, execution: RunExecution | None) -> None:
        self._look_again.pop(key[0], None)
        events.run_ended(*key, state.value, now, reason, execution)
