"""What one run does next: the rules, with no Dask and no store in sight.

:class:`RunDecisions` is the state machine of one DAG run. Events come in as
method calls (the run starts, a node reported, a key erred, time passed, the
lease was renewed, the cluster answered a stall check, the run must stop);
each returns the instructions that follow, as plain values:

- :class:`SubmitNodes`: put these task instances on the cluster (the first
  wave at start; later waves once a mapped task's input length is known from
  its upstream's report, and the tasks downstream of it);
- :class:`RunAgain`: re-run these erred keys (``Client.retry``), some with a
  new try number, a forced outcome, their recorded success forgotten or the
  place a deferred task resumes at;
- :class:`StartTrigger` / :class:`StopTriggers`: wait on a deferred task's
  trigger in the loop's process, or stop waiting;
- :class:`RecordReport` / :class:`RecordTask`: what to write to the store
  (a retry timer is a ``next_try_at`` written before the timer counts);
- :class:`TaskEnded`: an attempt outcome, for callbacks and notifications;
- :class:`MarkDone`: tell the cluster a key's success is recorded;
- :class:`FailStuck`, :class:`RecoverReports`, :class:`ResubmitRun`,
  :class:`CancelKeys`, :class:`Warn`: the answers to a stalled or stopped run.

``execution/run.py`` is the shell that carries them out on Dask and the
recorder. The only thing these rules read of the outside is a mapping of
each key to its Dask future's status (``statuses``), which the shell keeps
live and a test writes by hand: Dask errs every dependent of an erred key
with the same exception, and only the current statuses tell an upstream's
error from a key's own. Timers are epoch seconds passed in by the caller,
so the rules never read a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from daskflow.execution.deferral import resume_with_event, resume_with_failure
from daskflow.execution.keys import KeyNames
from daskflow.execution.report import END, START, Report
from daskflow.models.mapping import mapped_count
from daskflow.models.run_tasks import RunTasks
from daskflow.models.state import FINISHED_STATES, DagRunState, TaskInstanceState, run_state_from
from daskflow.models.xcom_arg import XComArg

TI = TaskInstanceState
#: Replays of a lost recorded success that may fail before its code runs again.
RECOMPUTE_TRIES = 3
#: Seconds a due retry waits for Dask to report its key erred before re-running it anyway.
ERRED_WAIT = 10.0
#: Seconds after a retry is due during which the shell looks for the error eagerly.
ERRED_SOON = 1.0
#: ``not_before`` of a resubmitted deferred key: it never runs until its trigger fires.
NEVER = 1e18
#: How a trigger ended (``Triggerer``): an event to resume with, an ending event, an error.
EVENT, FIRED_ERROR = "event", "error"
ENDING = {"success": TaskInstanceState.SUCCESS, "failed": TaskInstanceState.FAILED,
          "skipped": TaskInstanceState.SKIPPED}


# -- what the rules are given ------------------------------------------------------------
@dataclass(frozen=True)
class StoredInstance:
    """A task instance as the store has it, for a run that resumes."""

    state: str | None
    try_number: int = 0
    result_ref: str | None = None
    map_lengths: dict[str, int | None] | None = None
    #: When an ``up_for_retry`` instance's next try (or a rescheduled sensor's next
    #: poke) is due (epoch seconds).
    next_try_at: float | None = None
    #: When its try started (for a rescheduled sensor: its first poke).
    start: float | None = None
    #: A deferred task's trigger and where it resumes (``execution/deferral.py``).
    deferral: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state is not None and TI(self.state) in FINISHED_STATES

    @property
    def deferred(self) -> bool:
        """Waiting on its trigger, or resuming from it (``scheduled``) when its loop died:
        either way the trigger is waited on again (it fires at once if it fired before)."""
        return self.state in (TI.DEFERRED.value, TI.SCHEDULED.value) \
            and self.deferral is not None

    @property
    def rescheduled(self) -> bool:
        return self.state == TI.UP_FOR_RESCHEDULE.value

    @property
    def waiting_until(self) -> float | None:
        """The time its retry or reschedule timer fires, if it was waiting for one."""
        if self.state in (TI.UP_FOR_RETRY.value, TI.UP_FOR_RESCHEDULE.value) \
                and self.next_try_at is not None:
            return self.next_try_at
        return None


#: How a key erred, as the shell classifies the exception.
PLANNED = "planned"        # RetryAttempt / NotYet: the node reported it or waits a timer
LEASE_EXPIRED = "lease"    # the node found the run's lease expired: nothing ran
CANCELLED = "cancelled"    # cancelled by the loop, or lost with a restarted scheduler
CRASHED = "crashed"        # anything else: the attempt ended without a report


@dataclass(frozen=True)
class KeyErred:
    """A key's future erred or was cancelled."""

    key: str
    kind: str
    #: ``"Type: message"``; for a dead worker, with the reason the cluster gave.
    error: str
    #: A ``KilledWorker`` names the key whose worker died (may be another key).
    killed_key: str | None = None


@dataclass
class Instance:
    """What the rules know of one task instance during the run."""

    task_id: str
    map_index: int
    key: str
    state: TI = TI.QUEUED
    try_number: int = 0
    start: float | None = None
    end: float | None = None
    error: str | None = None
    lengths: dict[str, int | None] = field(default_factory=dict)
    #: A sensor waiting in reschedule mode: (first poke, pokes so far).
    pokes: tuple[float, int] | None = None
    #: A deferred task: its trigger and where it resumes.
    deferral: dict[str, Any] | None = None
    #: Its trigger fired: where the same try resumes (or the state it ends in).
    resume: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def duration(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


# -- what the rules answer ----------------------------------------------------------------
@dataclass(frozen=True)
class PlannedNode:
    """One task instance to put on the cluster as one key."""

    key: str
    task_id: str
    map_index: int
    #: Upstream task id -> its key (a list for a mapped upstream).
    upstream: dict[str, str | list[str]]
    first_try: int = 1
    #: A mapped task with nothing to expand over.
    unexpandable: bool = False
    #: A finished instance whose recorded outcome the key hands downstream.
    replay: StoredInstance | None = None
    #: Its retry delay runs until then (a resumed run): the node waits for it.
    not_before: float | None = None
    #: A rescheduled sensor resumed from the store: (first poke, pokes so far).
    pokes: tuple[float, int] | None = None


@dataclass(frozen=True)
class SubmitNodes:
    nodes: tuple[PlannedNode, ...]


@dataclass(frozen=True)
class RunAgain:
    """``Client.retry`` these keys, with their annotations changed first."""

    keys: tuple[str, ...]
    #: Key -> the try number its next attempt is.
    tries: dict[str, int] = field(default_factory=dict)
    #: Key -> (state, error, try) to end with, without running the code.
    forced: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    #: Keys whose recorded success must not be replayed (run the code again).
    forget_done: frozenset[str] = frozenset()
    #: Rescheduled sensors: key -> (first poke, pokes so far), for the timeout.
    pokes: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: Deferred tasks whose trigger fired: key -> where the try resumes.
    resume: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StartTrigger:
    """Wait on a deferred task's trigger in the loop's process."""

    key: str
    deferral: dict[str, Any]


@dataclass(frozen=True)
class StopTriggers:
    """Stop waiting on these keys' triggers (they timed out, or the run stopped)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class RecordReport:
    report: Report
    operator: str


@dataclass(frozen=True)
class RecordTask:
    task_id: str
    map_index: int
    changes: dict[str, Any]


@dataclass(frozen=True)
class TaskEnded:
    task_id: str
    report: Report


@dataclass(frozen=True)
class MarkDone:
    key: str
    result_ref: str


@dataclass(frozen=True)
class FailStuck:
    """Fail these keys, waiting for a worker that can take them, with the reason."""

    reasons: dict[str, str]


@dataclass(frozen=True)
class RecoverReports:
    """These keys hold an outcome whose report never came: read it from the cluster."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class ResubmitRun:
    """Dask lost these keys: rebuild the run from the store."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class CancelKeys:
    """Cancel every key of the run on the cluster."""


@dataclass(frozen=True)
class Warn:
    message: str


Instruction = (SubmitNodes | RunAgain | StartTrigger | StopTriggers | RecordReport | RecordTask
               | TaskEnded | MarkDone | FailStuck | RecoverReports | ResubmitRun | CancelKeys
               | Warn)


class RunDecisions:
    """The rules of one run: events in, instructions out (see the module docstring)."""

    def __init__(self, dag: Any, dag_id: str, run_id: str, token: str, *,
                 stored: Mapping[tuple[str, int], StoredInstance] | None = None,
                 needed: Iterable[str] | None = None,
                 statuses: Mapping[str, str] | None = None,
                 plan: RunTasks | None = None,
                 key_names: KeyNames | None = None) -> None:
        self.dag = dag
        self.dag_id = dag_id
        self.run_id = run_id
        self.token = token
        #: How this submission's keys are named (``execution/keys.py``).
        self.key_names = key_names or KeyNames(dag_id, token)
        self.stored = dict(stored or {})
        #: Tasks whose outcome a downstream task still needs (replayed when finished).
        self.needed = set(needed if needed is not None else (t.task_id for t in dag.tasks))
        #: Key -> its Dask future's status ("pending", "error", ...), kept by the shell.
        self.statuses: Mapping[str, str] = statuses if statuses is not None else {}
        self.instances: dict[tuple[str, int], Instance] = {}
        self.keys: dict[str, tuple[str, int]] = {}
        self.task_keys: dict[str, str | list[str]] = {}
        #: The tasks this run has (a task's start_date/end_date may leave it out).
        self.plan = plan or RunTasks(tuple(t.task_id for t in dag.topological_sort()))
        self.pending = list(self.plan.order)
        self.retry_due: dict[str, float] = {}
        #: Tasks not to submit yet (``depends_on_past`` waiting on the previous run).
        self.hold: set[str] = set()
        #: Keys whose node found the lease expired: re-run once it is renewed.
        self.refused: set[str] = set()
        self.length_keys = length_keys(dag)
        self._errors: dict[str, str] = {}
        self._recomputes: dict[str, int] = {}

    # -- events ---------------------------------------------------------------------
    def start(self) -> list[Instruction]:
        """The first wave; tasks stranded below a left-out task get a stateless instance."""
        out: list[Instruction] = []
        for task_id in self.plan.stranded:
            task = self.dag.task_dict[task_id]
            out.append(RecordTask(task_id, -1, {
                "operator": operator_name(task), "pool": task.pool,
                "pool_slots": task.pool_slots, "max_tries": task.retries}))
        if self.plan.failure:
            out.append(Warn(f"DAG {self.dag_id!r} run {self.run_id!r} fails once its other "
                            f"tasks end: {self.plan.failure}"))
        return [*out, *self.submit_ready()]

    def holds_changed(self, hold: set[str]) -> list[Instruction]:
        self.hold = set(hold)
        return self.submit_ready()

    def task_reported(self, report: Report, now: float) -> list[Instruction]:
        """A node's report: record it, and act on how the attempt ended."""
        instance = self.instances.get((report.task_id, report.map_index))
        if instance is None or report.key not in (None, instance.key):
            return []  # a report of an earlier submission of this run
        task = self.dag.task_dict[instance.task_id]
        out: list[Instruction] = [RecordReport(report, operator_name(task))]
        if report.try_number:
            instance.try_number = report.try_number
        if report.kind == START:
            instance.state, instance.start, instance.end = TI.RUNNING, report.start, None
            return out
        state = TI(report.state)
        instance.state, instance.end = state, report.end
        instance.start = report.start or instance.start
        instance.error = report.error
        instance.lengths = dict(report.lens or {})
        if state is TI.UP_FOR_RESCHEDULE:
            # Not an outcome: the same try pokes again when the timer fires.
            instance.pokes = (report.start if report.start is not None else now, report.pokes)
            out.append(self._set_timer(instance, report.reschedule_at or now))
            return out
        if state is TI.DEFERRED and report.deferral is not None:
            # Not an outcome either: the trigger waits in the loop, then the try resumes.
            return [*out, *self._defer(instance, report.deferral)]
        if report.result is not None:
            out.append(MarkDone(instance.key, report.result))
        out.append(TaskEnded(task.task_id, report))
        if state is TI.UP_FOR_RETRY:
            delay = task.retry_delay_for(instance.try_number)
            out.append(self._set_timer(instance, now + delay.total_seconds()))
        elif instance.finished:
            out.extend(self.submit_ready())
        return out

    def key_erred(self, event: KeyErred, now: float) -> list[Instruction]:
        """A key erred for a reason no report explains (worker death, ...), or on purpose."""
        ti = self.keys.get(event.key)
        if ti is None:
            return []
        blamed = self._blamed_on_upstream(event)
        self._errors[event.key] = event.error
        if event.kind == PLANNED:
            return []  # the node reported this attempt, or waits: the retry timer is set
        if event.kind == LEASE_EXPIRED:
            self.refused.add(event.key)  # nothing ran; run it again once the lease is renewed
            return []
        if event.kind == CANCELLED:
            # Cancelled by this loop (timeout, a lost run) or lost with a restarted Dask
            # scheduler, which the loop notices and resubmits from the store.
            return []
        instance = self.instances[ti]
        if instance.finished and instance.state is TI.SUCCESS and not blamed:
            return self._recompute(event.key, instance, event.error)
        if instance.finished or event.key in self.retry_due or blamed:
            return []
        task = self.dag.task_dict[instance.task_id]
        tried = max(instance.try_number, 1)
        if tried <= task.retries:
            instance.state, instance.error = TI.UP_FOR_RETRY, event.error
            report = self._crash_report(instance, tried, TI.UP_FOR_RETRY, event.error, now)
            return [RecordReport(report, operator_name(task)),
                    self._set_timer(instance, now + task.retry_delay_for(tried).total_seconds())]
        report = self._crash_report(instance, tried, TI.FAILED, event.error, now)
        instance.state, instance.error, instance.end = TI.FAILED, event.error, now
        # Dask re-runs the key with this outcome forced on it, so that the tasks
        # downstream get a failed outcome and follow their trigger rules.
        return [RecordReport(report, operator_name(task)), TaskEnded(task.task_id, report),
                *self._run_again({event.key: {}}, forced={
                    event.key: (TI.FAILED.value, event.error, tried)}),
                *self.submit_ready()]

    def trigger_fired(self, key: str, kind: str, payload: Any, now: float
                      ) -> list[Instruction]:
        """A deferred task's trigger yielded an event (``kind`` ``event``), an ending
        event (``success``, ``failed``, ``skipped``), or failed (``error``).

        The task resumes through the retry timer, due now: the key is re-run
        only once Dask has it erred (see :meth:`time_passed`).
        """
        ti = self.keys.get(key)
        instance = self.instances.get(ti) if ti is not None else None
        if instance is None or instance.state is not TI.DEFERRED or instance.deferral is None:
            return []  # stale: the task already timed out, or the run moved on
        if kind == EVENT:
            instance.resume = resume_with_event(instance.deferral, payload, instance.start)
        elif kind in ENDING:
            instance.resume = {"end": kind, "payload": payload}
        else:
            instance.resume = resume_with_failure(
                f"the trigger failed: {payload}", instance.start)
        instance.state = TI.SCHEDULED
        self.retry_due[key] = now
        return [RecordTask(instance.task_id, instance.map_index,
                           {"state": TI.SCHEDULED.value})]

    def time_passed(self, now: float) -> list[Instruction]:
        """Retry every key whose delay has passed, with its next try number.

        A key is re-run only once Dask has it erred: the node's report travels
        ahead of the error it raises, and a retry that reaches the Dask
        scheduler while the key still counts as processing there makes Dask
        run the task again on top of the attempt that is ending (the same try
        two or three times). A key whose future still waits ``ERRED_WAIT``
        seconds past its time is re-run anyway (Dask may have lost it).
        """
        due = [k for k, t in self.retry_due.items() if t <= now
               and (self.statuses.get(k) != "pending" or t + ERRED_WAIT <= now)]
        if not due:
            return []
        out: list[Instruction] = []
        tries, pokes, resume, forced = {}, {}, {}, {}
        for key in due:
            del self.retry_due[key]
            instance = self.instances[self.keys[key]]
            if instance.deferral is not None:
                tries[key] = max(instance.try_number, 1)
                if instance.resume is None:  # still deferred: the timeout passed
                    out.append(StopTriggers((key,)))
                    instance.resume = resume_with_failure(
                        f"the trigger did not fire within the timeout given to defer() "
                        f"(task {instance.task_id!r})", instance.start, timed_out=True)
                if "end" in instance.resume:
                    forced[key] = self._end_from_trigger(instance, out, now)
                else:
                    resume[key] = instance.resume
                instance.deferral = instance.resume = None
                instance.state = TI.SCHEDULED if key in resume else instance.state
                continue
            if instance.state is TI.UP_FOR_RESCHEDULE and instance.pokes is not None:
                # A reschedule is not a new try. The store keeps up_for_reschedule until
                # the poke starts, so a loop resuming in between pokes with the same try.
                tries[key] = instance.try_number
                pokes[key] = instance.pokes
                instance.state = TI.QUEUED
                continue
            tries[key] = instance.try_number + 1
            instance.state = TI.QUEUED
            out.append(RecordTask(instance.task_id, instance.map_index,
                                  {"state": TI.QUEUED.value}))
        out.extend(self._run_again({k: {} for k in due}, tries=tries, pokes=pokes,
                                   resume=resume, forced=forced))
        if forced:
            out.extend(self.submit_ready())
        return out

    def lease_renewed(self) -> list[Instruction]:
        """Run again the keys whose nodes found the lease expired (it is valid again)."""
        if not self.refused:
            return []
        keys, self.refused = self.refused, set()
        return self._run_again({k: {} for k in sorted(keys) if k in self.statuses})

    def keys_stalled(self, answer: Mapping[str, Any], timeout: float) -> list[Instruction]:
        """The cluster's view of the unfinished keys after ``timeout`` s without progress.

        A key waiting for a worker that can take it fails with the reason (its
        retries apply); a key in memory whose report never came is recovered
        from its outcome; keys Dask no longer has make the run resubmit.
        """
        states = answer.get("keys") or {}
        if any(info["state"] in ("processing", "queued") for info in states.values()):
            return []
        out: list[Instruction] = []
        stuck = {key: self._stall_reason(key, info, answer, timeout)
                 for key, info in states.items() if info["state"] == "no-worker"}
        if stuck:
            out.extend(Warn(f"DAG {self.dag_id!r} run {self.run_id!r}: {reason}")
                       for reason in stuck.values())
            out.append(FailStuck(stuck))
        recover = tuple(k for k, info in states.items() if info["state"] == "memory")
        if recover:
            out.append(RecoverReports(recover))
        lost = tuple(k for k, info in states.items()
                     if info["state"] in ("missing", "released", "forgotten"))
        if lost:
            out.append(ResubmitRun(lost))
        return out

    def stop(self, reason: str, running_as: TI = TI.SKIPPED) -> list[Instruction]:
        """End the run now (dagrun_timeout): cancel its keys, skip what did not finish.

        As in Airflow, unfinished task instances end ``skipped``. A task already
        running on a worker cannot be interrupted by Dask; its report is ignored.
        A run marked failed by a user (``RunHandle.cancel``) passes
        ``running_as=FAILED``: as Airflow's "mark run failed" does, the instances
        that were running (or deferred, or waiting to poke again) end ``failed``,
        the rest ``skipped``.
        """
        deferred = tuple(i.key for i in self.instances.values() if i.deferral is not None)
        out: list[Instruction] = [CancelKeys(), *([StopTriggers(deferred)] if deferred else [])]
        for instance in self.instances.values():
            instance.deferral = instance.resume = None
            if not instance.finished:
                active = instance.state in (TI.RUNNING, TI.DEFERRED, TI.UP_FOR_RESCHEDULE)
                instance.state = running_as if active else TI.SKIPPED
                out.append(RecordTask(instance.task_id, instance.map_index,
                                      {"state": instance.state.value}))
        out.extend(RecordTask(task_id, -1, {"state": TI.SKIPPED.value})
                   for task_id in self.pending)
        self.pending = []
        self.retry_due.clear()
        out.append(Warn(f"DAG {self.dag_id!r} run {self.run_id!r} stopped: {reason}"))
        return out

    # -- queries --------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return not self.pending and not self.retry_due and all(
            i.finished for i in self.instances.values())

    def final_state(self) -> DagRunState:
        if self.plan.failure:
            return DagRunState.FAILED  # tasks it can never run: Airflow's "task deadlock"
        leaves = {t.task_id for t in self.dag.leaves}
        return run_state_from([i.state for i in self.instances.values() if i.task_id in leaves])

    def next_timer(self) -> float | None:
        """When :meth:`time_passed` next has work (a key Dask has not erred yet waits for
        that, which the shell looks for while :meth:`waits_for_error`, or for
        ``ERRED_WAIT``)."""
        return min((t if self.statuses.get(k) != "pending" else t + ERRED_WAIT
                    for k, t in self.retry_due.items()), default=None)

    def waits_for_error(self, now: float) -> bool:
        """Whether a retry is due and waits only for Dask to have its key erred, which
        the shell should look for soon (it takes milliseconds after the node's report)."""
        return any(t <= now < t + ERRED_SOON and self.statuses.get(k) == "pending"
                   for k, t in self.retry_due.items())

    def may_be_stalled(self) -> bool:
        """Whether a stall check can find anything (nothing waits on a timer, a lease or
        a trigger)."""
        return not self.finished and not self.retry_due and not self.refused \
            and not any(i.deferral is not None for i in self.instances.values())

    def unfinished_keys(self) -> list[str]:
        return [i.key for i in self.instances.values() if not i.finished]

    def instance_of(self, key: str) -> Instance:
        return self.instances[self.keys[key]]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for instance in self.instances.values():
            counts[instance.state.value] = counts.get(instance.state.value, 0) + 1
        return counts

    # -- planning -------------------------------------------------------------------
    def submit_ready(self) -> list[Instruction]:
        """Every pending task whose instances and upstream keys are known, as nodes."""
        nodes: list[PlannedNode] = []
        records: list[Instruction] = []
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
            self._plan(task, count, nodes, records)
        if not nodes:
            return records
        return [*records, SubmitNodes(tuple(nodes))]

    def _plan(self, task: Any, count: int, nodes: list[PlannedNode],
              records: list[Instruction]) -> None:
        upstream = {u: self.task_keys[u] for u in sorted(task.upstream_task_ids)}
        keys = []
        for map_index in [-1] if count <= 0 else range(count):
            key = self.key_names.key(task.task_id, map_index)
            keys.append(key)
            stored = self.stored.get((task.task_id, map_index))
            if stored is not None and stored.finished:
                self._track(task.task_id, map_index, key, TI(stored.state), stored)
                if task.task_id in self.needed:
                    nodes.append(PlannedNode(key, task.task_id, map_index, upstream,
                                             replay=stored))
                continue
            instance = self._track(task.task_id, map_index, key, TI.QUEUED, stored)
            waiting = stored.waiting_until if stored is not None else None
            rescheduled = stored is not None and stored.rescheduled
            if waiting is not None:
                # Its retry delay (or the wait before a sensor's next poke) began before
                # this run was resumed: it ends when it was going to end. Until then
                # the node declines to run.
                instance.state = TI.UP_FOR_RESCHEDULE if rescheduled else TI.UP_FOR_RETRY
                self.retry_due[key] = waiting
            if rescheduled and stored is not None:
                instance.pokes = (stored.start if stored.start is not None else waiting or 0.0,
                                  1)
            deferred = stored is not None and stored.deferred
            if deferred:
                # Its trigger waited in the loop that crashed: wait on it again here; the
                # node declines to run until the trigger fires.
                instance.state, instance.start = TI.DEFERRED, stored.start
                records.extend(self._defer(instance, stored.deferral or {}))
            records.append(RecordTask(task.task_id, map_index, {
                "state": instance.state.value, "operator": operator_name(task),
                "pool": task.pool, "pool_slots": task.pool_slots,
                "priority_weight": task.priority_weight, "max_tries": task.retries}))
            same_try = rescheduled or deferred
            first_try = 1 if stored is None else stored.try_number + (0 if same_try else 1)
            nodes.append(PlannedNode(
                key, task.task_id, map_index, upstream, first_try=max(first_try, 1),
                unexpandable=task.is_mapped and count <= 0,
                not_before=NEVER if deferred else waiting, pokes=instance.pokes))
        self.task_keys[task.task_id] = keys if task.is_mapped and count > 0 else keys[0]

    def _track(self, task_id: str, map_index: int, key: str, state: TI,
               stored: StoredInstance | None) -> Instance:
        instance = Instance(task_id, map_index, key, state=state)
        if stored is not None and (stored.finished or stored.waiting_until is not None
                                   or stored.deferred):
            instance.try_number = stored.try_number
            instance.lengths = dict(stored.map_lengths or {}) if stored.finished else {}
        self.instances[(task_id, map_index)] = instance
        self.keys[key] = (task_id, map_index)
        return instance

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
        if ref.task_id not in self.task_keys:
            return "wait"
        instances = [self.instances[self.keys[k]] for k in self.keys_of(ref.task_id)]
        if not all(i.finished for i in instances):
            return "wait"
        if any(i.state is not TI.SUCCESS for i in instances):
            return None
        if source.is_mapped:
            return len(instances)
        return instances[0].lengths.get(ref.key)

    def keys_of(self, task_id: str) -> list[str]:
        keys = self.task_keys.get(task_id)
        return [keys] if isinstance(keys, str) else list(keys or ())

    # -- failures -------------------------------------------------------------------
    def _blamed_on_upstream(self, event: KeyErred) -> bool:
        """Whether the key erred only because a key it depends on erred.

        Dask errs every dependent of an erred key with the same exception, so
        an upstream key that erred with this very error is to blame. The loop
        may already have retried that key (its future is pending again), so
        the error each key last erred with is kept rather than asked for. A
        ``KilledWorker`` names the key whose worker died, whichever of the two
        errors arrives first.
        """
        if event.killed_key is not None and event.killed_key != event.key:
            return True
        task = self.dag.task_dict[self.keys[event.key][0]]
        for upstream in task.upstream_task_ids:
            for k in self.keys_of(upstream):
                if self._errors.get(k) == event.error:
                    return True
                if not self.instances[self.keys[k]].finished \
                        and self.statuses.get(k) in ("error", "cancelled"):
                    return True
        return False

    def _recompute(self, key: str, instance: Instance, error: str) -> list[Instruction]:
        """A recorded success Dask lost with a worker, and could not compute again.

        Its node replays the recorded outcome; that is retried a few times, then
        (the recorded outcome cannot be read, say) the task's code runs again.
        """
        tries = self._recomputes[key] = self._recomputes.get(key, 0) + 1
        if tries <= RECOMPUTE_TRIES:
            return self._run_again({key: {}})
        self._recomputes[key] = 0
        return [Warn(f"DAG {self.dag_id!r} run {self.run_id!r}: the result of task "
                     f"{instance.task_id!r} was lost and its recorded outcome could not be "
                     f"used ({error}); running the task again"),
                *self._run_again({key: {}}, tries={key: instance.try_number + 1},
                                 forget_done={key})]

    def _crash_report(self, instance: Instance, try_number: int, state: TI, error: str,
                      now: float) -> Report:
        return Report(kind=END, dag_id=self.dag_id, run_id=self.run_id,
                      task_id=instance.task_id, map_index=instance.map_index,
                      try_number=try_number, state=state.value, start=instance.start, end=now,
                      error=error, log=f"The attempt ended without a result: {error}\n")

    def _set_timer(self, instance: Instance, at: float) -> RecordTask:
        """Retry ``instance`` at ``at``; the time is stored first, so a new loop keeps it."""
        self.retry_due[instance.key] = at
        return RecordTask(instance.task_id, instance.map_index, {"next_try_at": at})

    def _defer(self, instance: Instance, deferral: dict[str, Any]) -> list[Instruction]:
        """Wait on ``instance``'s trigger; its timeout, if any, is a timer kept in the store."""
        instance.deferral, instance.resume = deferral, None
        out: list[Instruction] = [
            RecordTask(instance.task_id, instance.map_index, {"deferral": deferral}),
            StartTrigger(instance.key, deferral)]
        if deferral.get("timeout_at") is not None:
            self.retry_due[instance.key] = float(deferral["timeout_at"])
        return out

    def _end_from_trigger(self, instance: Instance, out: list[Instruction], now: float
                          ) -> tuple[str, str | None, int]:
        """The trigger ended the task itself: record that, and force it on the key."""
        assert instance.resume is not None
        state = ENDING[instance.resume["end"]]
        error = "ended by its trigger (TaskFailedEvent)" if state is TI.FAILED else None
        tried = max(instance.try_number, 1)
        task = self.dag.task_dict[instance.task_id]
        report = Report(kind=END, dag_id=self.dag_id, run_id=self.run_id,
                        task_id=instance.task_id, map_index=instance.map_index,
                        try_number=tried, state=state.value, start=instance.start, end=now,
                        error=error, log=f"The task's trigger ended it: {state.value}\n")
        instance.state, instance.error, instance.end = state, error, now
        out.extend([RecordReport(report, operator_name(task)), TaskEnded(task.task_id, report)])
        return (state.value, error or "", tried)

    def _run_again(self, roots: dict[str, Any], *, tries: dict[str, int] | None = None,
                   forced: dict[str, tuple[str, str, int]] | None = None,
                   forget_done: set[str] | frozenset[str] = frozenset(),
                   pokes: dict[str, tuple[float, int]] | None = None,
                   resume: dict[str, dict[str, Any]] | None = None) -> list[Instruction]:
        """Re-run ``roots`` and the erred keys only they hold back.

        Dask re-runs the erred tasks downstream of a retried key too, but the
        client resets (and so can report again) only the futures it was given:
        those erred descendants are passed as well, and watched again.
        """
        keys = (*roots, *self._erred_descendants(roots))
        return [RunAgain(keys, dict(tries or {}), dict(forced or {}), frozenset(forget_done),
                         dict(pokes or {}), dict(resume or {}))]

    def _erred_descendants(self, roots: Iterable[str]) -> list[str]:
        """Erred keys below ``roots`` that only ``roots`` (or each other) hold back.

        A key that also waits on another erred key (one whose retry delay still
        runs) is left out: passing it to ``Client.retry`` would retry that one too.
        """
        chosen = set(roots)
        found = []
        for task in self.dag.topological_sort():
            for key in self.keys_of(task.task_id):
                if key in chosen or self.statuses.get(key) != "error":
                    continue
                upstream = [k for u in task.upstream_task_ids for k in self.keys_of(u)]
                erred = [k for k in upstream
                         if k in chosen or self.statuses.get(k) == "error"]
                if erred and all(k in chosen for k in erred):
                    chosen.add(key)
                    found.append(key)
        return found

    def _stall_reason(self, key: str, info: Mapping[str, Any], answer: Mapping[str, Any],
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


def operator_name(task: Any) -> str:
    return task.operator_class.__name__ if task.is_mapped else type(task).__name__


def length_keys(dag: Any) -> dict[str, set[str]]:
    """For each task, the XCom keys whose lengths a mapped task downstream needs."""
    needed: dict[str, set[str]] = {}
    for task in dag.tasks:
        if task.is_mapped:
            for value in task.expand_input.values():
                if isinstance(value, XComArg):
                    needed.setdefault(value.task_id, set()).add(value.key)
    return needed


def usable_stored(dag: Any, stored: Mapping[tuple[str, int], StoredInstance],
                  outcome_exists: Any) -> tuple[dict[tuple[str, int], StoredInstance], set[str]]:
    """The stored instances a resumed run keeps, and the tasks whose outcome is still needed.

    A recorded success whose kept outcome is gone, while a task downstream
    still needs it, runs again (``outcome_exists(result_ref)`` says).
    """
    by_task: dict[str, list[StoredInstance]] = {}
    for (task_id, _), ti in stored.items():
        by_task.setdefault(task_id, []).append(ti)
    unfinished = {t.task_id for t in dag.tasks
                  if not by_task.get(t.task_id)
                  or not all(ti.finished for ti in by_task[t.task_id])}
    needed = {t.task_id for t in dag.tasks if t.downstream_task_ids & unfinished}
    usable = dict(stored)
    for (task_id, map_index), ti in stored.items():
        if ti.state == TI.SUCCESS.value and task_id in needed \
                and not outcome_exists(ti.result_ref):
            usable[(task_id, map_index)] = StoredInstance(None, ti.try_number)
    return usable, needed


