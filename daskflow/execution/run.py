"""One DAG run on a Dask cluster: submit its graph, follow it, finish it.

:class:`RunExecution` turns a run into Dask keys and reacts to what the
cluster tells it. It is driven from outside (``execution/driver.py``): the
driver hands it node reports and erred futures and asks it, with the current
time, which retries are due. It never reads a clock or blocks.

Submission happens in waves. The first wave is every task whose instances
are known when the run starts; a task mapped over an upstream task's output
waits until that output's length is reported, then its instances and
everything downstream of it are submitted, naming the keys already on the
cluster (docs/concepts.md). A failed attempt with retries left stays
erred in Dask, its dependents wait erred with it, and after the retry delay
``Client.retry`` runs it again with the next try number in its annotations.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import dask
from dask._task_spec import Task

from daskflow import config
from daskflow.execution.annotations import ByKey, set_annotations
from daskflow.execution.capture import MAX_LOG_BYTES
from daskflow.execution.cluster_plugins import (
    LEASE_ANNOTATION,
    fail_stuck,
    key_states,
    worker_death,
)
from daskflow.execution.graph import node_task, task_key
from daskflow.execution.lease import LeaseExpired
from daskflow.execution.left_out import record_left_out
from daskflow.execution.limits import forget as forget_limits
from daskflow.execution.limits import plan as plan_limits
from daskflow.execution.limits import register as register_limits
from daskflow.execution.node import (
    DONE_ANNOTATION,
    FORCED_ANNOTATION,
    NOT_BEFORE_ANNOTATION,
    TRY_ANNOTATION,
    NodeSpec,
)
from daskflow.execution.outcome import NotYet, RetryAttempt, describe_error
from daskflow.execution.results import load_outcome, outcome_exists
from daskflow.models.context import DagRunInfo
from daskflow.models.mapping import mapped_count
from daskflow.models.run_tasks import tasks_for_run
from daskflow.models.state import FINISHED_STATES, DagRunState, TaskInstanceState, run_state_from
from daskflow.models.xcom_arg import XComArg

TI = TaskInstanceState
logger = logging.getLogger("daskflow.execution")
#: Seconds between annotation updates that mark recorded successes on the scheduler.
DONE_MARK_INTERVAL = 0.5
#: Replays of a lost recorded success that may fail before its code runs again.
RECOMPUTE_TRIES = 3
#: How often, and how long apart, to ask the cluster why a worker died.
CRASH_REASON_TRIES = 5
CRASH_REASON_WAIT = 0.1


@dataclass(frozen=True)
class StoredInstance:
    """A task instance as the store has it, for a run that resumes."""

    state: str | None
    try_number: int = 0
    result_ref: str | None = None
    map_lengths: dict[str, int | None] | None = None
    #: When an ``up_for_retry`` instance's next try is due (epoch seconds).
    next_try_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.state is not None and TI(self.state) in FINISHED_STATES

    @property
    def waiting_until(self) -> float | None:
        """The time its retry timer fires, if it was waiting for one."""
        if self.state == TI.UP_FOR_RETRY.value and self.next_try_at is not None:
            return self.next_try_at
        return None


@dataclass
class Instance:
    """What the loop knows of one task instance during the run."""

    task_id: str
    map_index: int
    key: str
    state: TI = TI.QUEUED
    try_number: int = 0
    start: float | None = None
    end: float | None = None
    error: str | None = None
    lengths: dict[str, int | None] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def duration(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


class RunExecution:
    """The live state of one run and the Dask calls that move it forward."""

    def __init__(self, dag: Any, run: DagRunInfo, client: Any, recorder: Any, topic: str,
                 token: str | None = None, *, results_url: str | None = None,
                 stored: dict[tuple[str, int], StoredInstance] | None = None,
                 pools: dict[str, int] | None = None,
                 lease: Callable[[], tuple[str, float] | None] | None = None) -> None:
        self.dag = dag
        self.run = run
        self.client = client
        self.recorder = recorder
        self.topic = topic
        self.token = token or secrets.token_hex(4)
        self.instances: dict[tuple[str, int], Instance] = {}
        self.keys: dict[str, tuple[str, int]] = {}
        self.task_keys: dict[str, str | list[str]] = {}
        self.futures: dict[str, Any] = {}
        #: The tasks this run has (a task's start_date/end_date may leave it out).
        self.plan = tasks_for_run(dag, run.logical_date, run.run_type)
        self.pending = list(self.plan.order)
        self.retry_due: dict[str, float] = {}
        self.state = DagRunState.RUNNING
        self.started = time.time()
        self.length_keys = _length_keys(dag)
        self._unwatched: list[str] = []
        self.weights = dag.priority_weights()
        self.results_url = results_url
        self.log_limit = int(config.get("log-max-bytes", MAX_LOG_BYTES))
        self.pools = pools
        self.stored = self._usable(stored or {})
        self._done_marks: dict[str, dict[str, Any]] = {}
        self._marks_sent = 0.0
        #: Tasks not to submit yet (``depends_on_past`` waiting on the previous run).
        self.hold: set[str] = set()
        #: (task, report) of every attempt outcome, for callbacks and notifications.
        self.ended: list[tuple[Any, dict[str, Any]]] = []
        #: The error each key last erred with (to tell an upstream's error from its own).
        self._errors: dict[str, str] = {}
        #: Failed recomputations of lost results, per key (``_recompute``).
        self._recomputes: dict[str, int] = {}
        #: ``(lease_id, until)`` of the run now (``execution/lease.py``); None: unleased.
        self.lease = lease
        #: Keys whose node found the lease expired: re-run once it is renewed.
        self.refused: set[str] = set()
        #: Keys resubmitted while their retry delay runs: their nodes wait for it.
        self._not_before: dict[str, float] = {}
        #: ``time.monotonic()`` of the last sign of progress (for :meth:`check_stall`).
        self.last_progress = time.monotonic()

    # -- submitting -----------------------------------------------------------------
    def start(self) -> None:
        threads = sum(self.client.nthreads().values()) or 1
        self._limits = plan_limits(self.dag, self.pools, threads, self.run.run_id)
        register_limits(self.client, [lim for found in self._limits.values()
                                      for lim in found if isinstance(found, tuple)])
        record_left_out(self.recorder, self.dag, self.run, self.plan)
        self.submit_ready()

    def submit_ready(self) -> int:
        """Submit every pending task whose instances and upstream keys are known."""
        graph: dict[str, Any] = {}
        for task_id in list(self.pending):
            task = self.dag.task_dict[task_id]
            if task_id in self.hold:
                continue
            if not all(u in self.task_keys for u in task.upstream_task_ids):
                continue
            count = self._instance_count(task)
            if count is None:
                continue
            self.pending.remove(task_id)
            graph.update(self._nodes_for(task, count))
        if graph:
            self.last_progress = time.monotonic()
            with dask.annotate(**self._annotations(graph)):
                futures = self.client.get(graph, list(graph), sync=False)
            for key, future in zip(graph, futures, strict=True):
                self.futures[key] = future
            self._unwatched.extend(graph)
        return len(graph)

    def _annotations(self, graph: dict[str, Any]) -> dict[str, Any]:
        """Per-key Dask priority (Airflow's priority_weight) and worker resources."""
        priority = {k: self.weights[self.keys[k][0]] for k in graph}
        annotations: dict[str, Any] = {"priority": ByKey(priority, 0)}
        lease = self.lease() if self.lease is not None else None
        if lease is not None:
            annotations[LEASE_ANNOTATION] = lease
        waiting = {k: self._not_before[k] for k in graph if k in self._not_before}
        if waiting:
            annotations[NOT_BEFORE_ANNOTATION] = ByKey(waiting, None)
        resources = {k: r for k in graph if not self.instances[self.keys[k]].finished
                     and (r := self.dag.task_dict[self.keys[k][0]].resources)}
        if resources:
            annotations["resources"] = ByKey(resources, {})
            self._warn_unmet(resources)
        return annotations

    def _warn_unmet(self, resources: dict[str, dict[str, float]]) -> None:
        """Dask leaves a task no worker can take in ``no-worker`` without a word: say it."""
        offered: dict[str, float] = {}
        for worker in self.client.scheduler_info(n_workers=-1)["workers"].values():
            for name, amount in (worker.get("resources") or {}).items():
                offered[name] = max(offered.get(name, 0), amount)
        for key, wanted in resources.items():
            unmet = {n: a for n, a in wanted.items() if offered.get(n, 0) < a}
            if unmet:
                logger.warning(
                    "DAG %r task %r asks for Dask worker resources %s that no worker of the "
                    "cluster offers (offered: %s); it waits until such a worker joins",
                    self.run.dag_id, self.keys[key][0], unmet, offered or "none")

    def take_new_futures(self) -> list[Any]:
        """Futures submitted since the last call (the driver watches each once)."""
        keys, self._unwatched = self._unwatched, []
        return [self.futures[k] for k in keys]

    def _instance_count(self, task: Any) -> int | None:
        """Instances of ``task``: -1 unmapped, 0 unexpandable, ``None`` not known yet."""
        if not task.is_mapped:
            return -1
        known = [i for (t, i) in self.stored if t == task.task_id and i >= 0]
        if known:
            return max(known) + 1
        literal = task.literal_count()
        if literal is not None:
            return literal
        resolved: dict[str, Any] = {}
        for name, value in task.expand_input.items():
            if not isinstance(value, XComArg):
                resolved[name] = value
                continue
            length = self._source_length(value)
            if length == "wait":
                return None
            if length is None:
                return 0
            resolved[name] = range(length)
        return mapped_count(resolved, task.expand_kind)

    def _source_length(self, ref: XComArg) -> int | None | str:
        source = self.dag.task_dict[ref.task_id]
        keys = self.task_keys.get(ref.task_id)
        if keys is None:
            return "wait"
        if isinstance(keys, list):
            instances = [self.instances[self.keys[k]] for k in keys]
        else:
            instances = [self.instances[self.keys[keys]]]
        if not all(i.finished for i in instances):
            return "wait"
        if any(i.state is not TI.SUCCESS for i in instances):
            return None
        if source.is_mapped:
            return len(instances)
        return instances[0].lengths.get(ref.key)

    def _nodes_for(self, task: Any, count: int) -> dict[str, Any]:
        upstream_ids = tuple(sorted(task.upstream_task_ids))
        upstream = {u: self.task_keys[u] for u in upstream_ids}
        indexes = [-1] if count <= 0 else list(range(count))
        graph = {}
        keys = []
        for map_index in indexes:
            key = task_key(self.dag.dag_id, task.task_id, self.token, map_index)
            stored = self.stored.get((task.task_id, map_index))
            if stored is not None and stored.finished:
                if task.task_id in self._needed:
                    graph[key] = Task(key, load_outcome, stored.result_ref or "trivial",
                                      task.task_id, map_index, stored.state)
                self._track_finished(task, key, map_index, stored)
                keys.append(key)
                continue
            spec = NodeSpec(task=task, run=self.run, topic=self.topic, upstream_ids=upstream_ids,
                            map_index=map_index,
                            length_keys=tuple(sorted(self.length_keys.get(task.task_id, ()))),
                            unexpandable=task.is_mapped and count <= 0,
                            first_try=(stored.try_number + 1) if stored else 1,
                            results_url=self.results_url, log_limit=self.log_limit,
                            **self._limit_fields(task))
            graph[key] = node_task(key, spec, upstream)
            self._track(task, key, map_index, stored)
            keys.append(key)
        self.task_keys[task.task_id] = keys if task.is_mapped and count > 0 else keys[0]
        return graph

    def _limit_fields(self, task: Any) -> dict[str, Any]:
        planned = getattr(self, "_limits", {}).get(task.task_id, ())
        if isinstance(planned, str):
            return {"blocked": planned}
        return {"limits": planned}

    def _usable(self, stored: dict[tuple[str, int], StoredInstance]
                ) -> dict[tuple[str, int], StoredInstance]:
        """Stored instances to keep: a success whose outcome is lost runs again."""
        by_task: dict[str, list[StoredInstance]] = {}
        for (task_id, _), ti in stored.items():
            by_task.setdefault(task_id, []).append(ti)
        unfinished = {t.task_id for t in self.dag.tasks
                      if not by_task.get(t.task_id)
                      or not all(ti.finished for ti in by_task[t.task_id])}
        self._needed = {t.task_id for t in self.dag.tasks if t.downstream_task_ids & unfinished}
        usable = dict(stored)
        for (task_id, map_index), ti in stored.items():
            if (ti.state == TI.SUCCESS.value and task_id in self._needed
                    and not outcome_exists(ti.result_ref)):
                usable[(task_id, map_index)] = StoredInstance(None, ti.try_number)
        return usable

    def _track_finished(self, task: Any, key: str, map_index: int, stored: StoredInstance
                        ) -> None:
        instance = Instance(task.task_id, map_index, key, state=TI(stored.state),
                            try_number=stored.try_number, lengths=dict(stored.map_lengths or {}))
        self.instances[(task.task_id, map_index)] = instance
        self.keys[key] = (task.task_id, map_index)

    def _track(self, task: Any, key: str, map_index: int,
               stored: StoredInstance | None = None) -> None:
        instance = Instance(task.task_id, map_index, key)
        self.instances[(task.task_id, map_index)] = instance
        self.keys[key] = (task.task_id, map_index)
        state = TI.QUEUED
        waiting = stored.waiting_until if stored is not None else None
        if waiting is not None:
            # Its retry delay began before this loop resumed the run: it ends when it
            # was going to end. Until then the node declines to run (``not_before``).
            state = instance.state = TI.UP_FOR_RETRY
            instance.try_number = stored.try_number
            self.retry_due[key] = waiting
            self._not_before[key] = waiting
        self.recorder.task(self.run.dag_id, self.run.run_id, task.task_id, map_index,
                           state=state.value, operator=_operator_name(task),
                           pool=task.pool, pool_slots=task.pool_slots,
                           priority_weight=task.priority_weight, max_tries=task.retries)

    # -- reacting -------------------------------------------------------------------
    def on_report(self, report: dict[str, Any], now: float) -> None:
        instance = self.instances.get((report["task_id"], report["map_index"]))
        if instance is None or report.get("key") not in (None, instance.key):
            return  # a report of an earlier submission of this run
        self.last_progress = time.monotonic()
        task = self.dag.task_dict[instance.task_id]
        self.recorder.report(report, operator=_operator_name(task))
        state = TI(report["state"])
        if report.get("try"):
            instance.try_number = report["try"]
        if report["kind"] == "start":
            instance.state, instance.start, instance.end = TI.RUNNING, report["start"], None
            return
        instance.state, instance.end = state, report["end"]
        instance.start = report.get("start") or instance.start
        instance.error = report.get("error")
        instance.lengths = report.get("lens") or {}
        if report.get("result") is not None:
            self._done_marks[instance.key] = {DONE_ANNOTATION: report["result"]}
        self.ended.append((task, report))
        if state is TI.UP_FOR_RETRY:
            delay = task.retry_delay_for(instance.try_number)
            self._set_timer(instance, now + delay.total_seconds())
        elif instance.finished:
            self.submit_ready()

    def on_future_error(self, key: str, exception: BaseException, now: float) -> None:
        """A key erred or was cancelled for a reason no report explains (worker death, ...)."""
        ti = self.keys.get(key)
        if ti is None:
            return
        self.last_progress = time.monotonic()
        error = describe_error(exception)
        blamed = self._blamed_on_upstream(key, error, exception)
        self._errors[key] = error
        if isinstance(exception, (RetryAttempt, NotYet)):
            return  # the node reported this attempt, or waits: the retry timer is set
        if isinstance(exception, LeaseExpired):
            self.refused.add(key)  # nothing ran; run it again once the lease is renewed
            return
        if isinstance(exception, CancelledError):
            # Cancelled by this loop (timeout, a lost run) or lost with a restarted Dask
            # scheduler, which the loop notices and resubmits from the store.
            return
        instance = self.instances[ti]
        if instance.finished and instance.state is TI.SUCCESS and not blamed:
            self._recompute(key, instance, error)
            return
        if instance.finished or key in self.retry_due or blamed:
            return
        error = self._crash_text(exception, error)
        task = self.dag.task_dict[instance.task_id]
        tried = max(instance.try_number, 1)
        if tried <= task.retries:
            instance.state, instance.error = TI.UP_FOR_RETRY, error
            self._record_crash(instance, tried, TI.UP_FOR_RETRY, error, now)
            self._set_timer(instance, now + task.retry_delay_for(tried).total_seconds())
            return
        report = self._record_crash(instance, tried, TI.FAILED, error, now)
        instance.state, instance.error, instance.end = TI.FAILED, error, now
        self.ended.append((task, report))
        # Dask re-runs the key with this outcome forced on it, so that the tasks
        # downstream get a failed outcome and follow their trigger rules.
        self._retry_now({key: {FORCED_ANNOTATION: {"state": TI.FAILED.value,
                                                   "error": error, "try": tried}}})
        self.submit_ready()

    def _recompute(self, key: str, instance: Instance, error: str) -> None:
        """A recorded success Dask lost with a worker, and could not compute again.

        Its node replays the recorded outcome; that is retried a few times, then
        (the recorded outcome cannot be read, say) the task's code runs again.
        """
        tries = self._recomputes[key] = self._recomputes.get(key, 0) + 1
        if tries <= RECOMPUTE_TRIES:
            self._retry_now({key: {}})
            return
        logger.warning("DAG %r run %r: the result of task %r was lost and its recorded outcome "
                       "could not be used (%s); running the task again", self.run.dag_id,
                       self.run.run_id, instance.task_id, error)
        self._recomputes[key] = 0
        self._retry_now({key: {DONE_ANNOTATION: None, TRY_ANNOTATION: instance.try_number + 1}})

    def _crash_text(self, exception: BaseException, error: str) -> str:
        """The error of a crashed attempt, saying why its worker died when the cluster knows."""
        worker = getattr(exception, "last_worker", None)
        if type(exception).__name__ != "KilledWorker" or worker is None:
            return error
        address = getattr(worker, "address", worker)
        reason = None
        for _ in range(CRASH_REASON_TRIES):  # the nanny's word may arrive just after
            try:
                reason = worker_death(self.client, address)
            except Exception:  # a scheduler without daskflow's plugin cannot say
                break
            if reason:
                break
            time.sleep(CRASH_REASON_WAIT)
        return ("KilledWorker: the worker running the task died: "
                f"{reason or f'the worker process {address} ended'}")

    def _record_crash(self, instance: Instance, try_number: int, state: TI, error: str,
                      now: float) -> dict[str, Any]:
        report = {
            "kind": "end", "dag_id": self.run.dag_id, "run_id": self.run.run_id,
            "task_id": instance.task_id, "map_index": instance.map_index, "try": try_number,
            "state": state.value, "start": instance.start, "end": now, "error": error,
            "log": f"The attempt ended without a result: {error}\n"}
        self.recorder.report(report)
        return report

    def _blamed_on_upstream(self, key: str, error: str, exception: BaseException) -> bool:
        """Whether ``key`` erred only because a key it depends on erred.

        Dask errs every dependent of an erred key with the same exception, so
        an upstream key that erred with this very error is to blame. The loop
        may already have retried that key (its future is pending again), so
        the error each key last erred with is kept rather than asked for. A
        ``KilledWorker`` names the key whose worker died, whichever of the two
        errors the loop hears first.
        """
        killed = getattr(exception, "task", None) \
            if type(exception).__name__ == "KilledWorker" else None
        if killed is not None and killed != key:
            return True
        task = self.dag.task_dict[self.keys[key][0]]
        for upstream in task.upstream_task_ids:
            keys = self.task_keys.get(upstream)
            for k in [keys] if isinstance(keys, str) else keys or []:
                if self._errors.get(k) == error:
                    return True
                instance = self.instances[self.keys[k]]
                if not instance.finished and self.futures[k].status in ("error", "cancelled"):
                    return True
        return False

    # -- time -----------------------------------------------------------------------
    def _set_timer(self, instance: Instance, at: float) -> None:
        """Retry ``instance`` at ``at``; the time is stored first, so a new loop keeps it."""
        self.recorder.task(self.run.dag_id, self.run.run_id, instance.task_id,
                           instance.map_index, next_try_at=_utc(at))
        self.retry_due[instance.key] = at

    def next_timer(self) -> float | None:
        return min(self.retry_due.values(), default=None)

    def fire_timers(self, now: float) -> int:
        """Retry every key whose delay has passed, with its next try number."""
        self._send_done_marks(now)
        due = {k: t for k, t in self.retry_due.items() if t <= now}
        if not due:
            return 0
        updates = {}
        for key in due:
            del self.retry_due[key]
            instance = self.instances[self.keys[key]]
            instance.state = TI.QUEUED
            updates[key] = {TRY_ANNOTATION: instance.try_number + 1}
            self.recorder.task(self.run.dag_id, self.run.run_id, instance.task_id,
                               instance.map_index, state=TI.QUEUED.value)
        self._retry_now(updates)
        return len(due)

    def retry_refused(self) -> int:
        """Run again the keys whose nodes found the lease expired (it is valid again)."""
        if not self.refused:
            return 0
        keys, self.refused = self.refused, set()
        self._retry_now({k: {} for k in keys if k in self.futures})
        return len(keys)

    def _send_done_marks(self, now: float) -> None:
        """Tell the scheduler which keys are recorded successes (twice a second at most).

        Sent from a background thread: the loop does not wait on a busy scheduler
        for what only matters if a worker dies later.
        """
        if self._done_marks and now - self._marks_sent >= DONE_MARK_INTERVAL:
            marks, self._done_marks = self._done_marks, {}
            self._marks_sent = now
            _background.submit(_send_quietly, self.client, marks)

    def _retry_now(self, updates: dict[str, dict[str, Any]]) -> None:
        """Run keys again (``Client.retry``), with their annotations updated first.

        Dask re-runs the erred tasks downstream of a retried key too, but the
        client resets (and so can report again) only the futures it was given:
        those erred descendants are passed as well, and watched again.
        """
        keys = [*updates, *self._erred_descendants(updates)]
        try:
            set_annotations(self.client, {k: v for k, v in updates.items() if v})
            self.client.retry([self.futures[k] for k in keys])
        except Exception as exc:  # the keys are gone (a restarted scheduler): resubmitted later
            logger.warning("DAG %r run %r: could not re-run %d keys (%s); the loop resubmits "
                           "the run if the Dask scheduler restarted", self.run.dag_id,
                           self.run.run_id, len(updates), describe_error(exc))
            return
        # Done callbacks fire once: watch the retried futures again.
        self._unwatched.extend(keys)

    def _erred_descendants(self, roots: Iterable[str]) -> list[str]:
        """Erred keys below ``roots`` that only ``roots`` (or each other) hold back.

        A key that also waits on another erred key (one whose retry delay still
        runs) is left out: passing it to ``Client.retry`` would retry that one too.
        """
        chosen = set(roots)
        found = []
        for task in self.dag.topological_sort():
            for key in self._keys_of(task.task_id):
                if key in chosen or self.futures.get(key) is None \
                        or self.futures[key].status != "error":
                    continue
                upstream = [k for u in task.upstream_task_ids for k in self._keys_of(u)]
                erred = [k for k in upstream if k in self.futures
                         and (k in chosen or self.futures[k].status == "error")]
                if erred and all(k in chosen for k in erred):
                    chosen.add(key)
                    found.append(key)
        return found

    def _keys_of(self, task_id: str) -> list[str]:
        keys = self.task_keys.get(task_id)
        return [keys] if isinstance(keys, str) else list(keys or ())

    # -- stalls -------------------------------------------------------------------------
    def check_stall(self, now: float, timeout: float) -> list[str]:
        """Find out why the run made no progress for ``timeout`` seconds, and end that.

        ``now`` is ``time.monotonic()``. A task running on a worker, however
        long, is progress (``execution_timeout`` is the tool for those). A key
        waiting for a worker that can take it fails with the reason
        (:class:`StalledTask`; its retries apply); a key that finished without
        its report reaching the loop is recorded from its outcome. Returns the
        keys Dask no longer has: the caller resubmits the run from the store.
        """
        if self.finished or self.retry_due or self.refused \
                or now - self.last_progress < timeout:
            return []
        unfinished = [i.key for i in self.instances.values() if not i.finished]
        if not unfinished:
            return []
        self.last_progress = now
        answer = key_states(self.client, unfinished)
        states = answer["keys"]
        if any(info["state"] in ("processing", "queued") for info in states.values()):
            return []
        stuck = {key: self._stall_reason(key, info, answer, timeout)
                 for key, info in states.items() if info["state"] == "no-worker"}
        if stuck:
            for reason in stuck.values():
                logger.warning("DAG %r run %r: %s", self.run.dag_id, self.run.run_id, reason)
            fail_stuck(self.client, stuck)
        for key, info in states.items():
            if info["state"] == "memory":
                self._recover_report(key)
        return [k for k, info in states.items()
                if info["state"] in ("missing", "released", "forgotten")]

    def _stall_reason(self, key: str, info: dict[str, Any], answer: dict[str, Any],
                      timeout: float) -> str:
        task_id = self.keys[key][0]
        needed, offered = info.get("resources") or {}, answer.get("offered") or {}
        if not answer.get("workers"):
            why = "the Dask cluster has no workers"
        elif any(offered.get(name, 0) < amount for name, amount in needed.items()):
            why = (f"it needs Dask worker resources {needed} and no worker offers them "
                   f"(the workers offer: {offered or 'none'})")
        else:
            why = "no worker of the Dask cluster can take it (Dask state no-worker)"
        return f"task {task_id!r} could not start for {timeout:g}s (daskflow.stall-timeout): {why}"

    def _recover_report(self, key: str) -> None:
        """A node finished but its report never came: record what its outcome says."""
        instance = self.instances[self.keys[key]]
        try:
            outcome = self.futures[key].result(timeout=60)
        except Exception:  # it erred after all: on_future_error hears of it
            return
        self.on_report({
            "kind": "end", "key": key, "dag_id": self.run.dag_id, "run_id": self.run.run_id,
            "task_id": instance.task_id, "map_index": instance.map_index,
            "try": max(instance.try_number, 1), "state": outcome.state.value,
            "start": instance.start, "end": time.time(), "error": None,
            "lens": {k: (len(v) if isinstance(v, (list, tuple, dict)) else None)
                     for k in self.length_keys.get(instance.task_id, ())
                     for v in [outcome.xcom(k)]},
            "log": "daskflow never received this attempt's report; its outcome was read "
                   "from the Dask cluster\n"}, time.time())

    # -- finishing ------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return not self.pending and not self.retry_due and all(
            i.finished for i in self.instances.values())

    def final_state(self) -> DagRunState:
        if self.plan.failure:
            return DagRunState.FAILED  # tasks it can never run: Airflow's "task deadlock"
        leaves = {t.task_id for t in self.dag.leaves}
        return run_state_from([i.state for i in self.instances.values() if i.task_id in leaves])

    def stop(self, reason: str) -> None:
        """End the run now (dagrun_timeout): cancel its keys, skip what did not finish.

        As in Airflow, unfinished task instances end ``skipped``. A task already
        running on a worker cannot be interrupted by Dask; its report is ignored.
        """
        self.client.cancel(list(self.futures.values()), force=True)
        for instance in self.instances.values():
            if not instance.finished:
                instance.state = TI.SKIPPED
                self.recorder.task(self.run.dag_id, self.run.run_id, instance.task_id,
                                   instance.map_index, state=TI.SKIPPED.value)
        for task_id in self.pending:
            self.recorder.task(self.run.dag_id, self.run.run_id, task_id, -1,
                               state=TI.SKIPPED.value)
        self.pending = []
        self.retry_due.clear()
        logger.warning("DAG %r run %r stopped: %s", self.run.dag_id, self.run.run_id, reason)

    def release(self) -> None:
        """Let Dask forget this run's results (and, once it ended, its own limits)."""
        self.futures.clear()
        self._errors.clear()
        if self.finished:
            forget_limits(self.client, getattr(self, "_limits", {}))

    def cancel(self) -> None:
        """Cancel every key of the run on the cluster (the run was lost to another loop)."""
        if self.futures:
            self.client.cancel(list(self.futures.values()), force=True)
        self.release()

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for instance in self.instances.values():
            counts[instance.state.value] = counts.get(instance.state.value, 0) + 1
        return counts


#: One thread per process sends done marks, so the loop never waits for them.
_background = ThreadPoolExecutor(1, thread_name_prefix="daskflow-done-marks")


def _send_quietly(client: Any, marks: dict[str, dict[str, Any]]) -> None:
    try:
        set_annotations(client, marks)
    except Exception:  # the client closed or the scheduler restarted: nothing to mark
        logger.debug("could not send %d done marks", len(marks), exc_info=True)


def _operator_name(task: Any) -> str:
    return task.operator_class.__name__ if task.is_mapped else type(task).__name__


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _length_keys(dag: Any) -> dict[str, set[str]]:
    """For each task, the XCom keys whose lengths a mapped task downstream needs."""
    needed: dict[str, set[str]] = {}
    for task in dag.tasks:
        if task.is_mapped:
            for value in task.expand_input.values():
                if isinstance(value, XComArg):
                    needed.setdefault(value.task_id, set()).add(value.key)
    return needed
