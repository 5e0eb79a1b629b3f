"""One DAG run on a Dask cluster: the shell that carries out the run's decisions.

What a run does next is decided by :class:`~daskflow.execution.decisions.RunDecisions`
(no Dask, no store). :class:`RunExecution` feeds it what the cluster says and
carries out its instructions: it builds graph pieces and submits them, calls
``Client.retry`` with the keys' annotations updated first, queues records
for the recorder, and asks the cluster why a run makes no progress. It is
driven from outside (``execution/driver.py``): the driver hands it node
reports and erred futures and asks it, with the current time, which retries
are due. It reads the clock only to tell how long the run made no progress.

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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import dask
from dask._expr import LLGExpr
from dask._task_spec import Task

from daskflow import config
from daskflow.execution import decisions as rules
from daskflow.execution import run_payload
from daskflow.execution.annotations import ByKey, set_annotations
from daskflow.execution.capture import MAX_LOG_BYTES
from daskflow.execution.cluster_plugins import (
    LEASE_ANNOTATION,
    fail_stuck,
    key_states,
    worker_death,
)
from daskflow.execution.decisions import Instance, KeyErred, RunDecisions, StoredInstance
from daskflow.execution.graph import node_task
from daskflow.execution.keys import key_names_for
from daskflow.execution.lease import LeaseExpired
from daskflow.execution.limits import forget as forget_limits
from daskflow.execution.limits import plan as plan_limits
from daskflow.execution.limits import register as register_limits
from daskflow.execution.node import (
    DONE_ANNOTATION,
    FORCED_ANNOTATION,
    NOT_BEFORE_ANNOTATION,
    POKES_ANNOTATION,
    RESUME_ANNOTATION,
    TRY_ANNOTATION,
)
from daskflow.execution.outcome import (
    DeferAttempt,
    NotYet,
    RescheduleAttempt,
    RetryAttempt,
    describe_error,
)
from daskflow.execution.report import END, Report
from daskflow.execution.results import load_outcome, outcome_exists
from daskflow.execution.run_payload import NodeRef, RunShared
from daskflow.models.context import DagRunInfo
from daskflow.models.run_tasks import tasks_for_run
from daskflow.models.state import DagRunState
from daskflow.secrets import masking

__all__ = ["Instance", "RunExecution", "StoredInstance"]

logger = logging.getLogger("daskflow.execution")
#: Seconds between annotation updates that mark recorded successes on the scheduler.
DONE_MARK_INTERVAL = 0.5
#: How often, and how long apart, to ask the cluster why a worker died.
CRASH_REASON_TRIES = 5
CRASH_REASON_WAIT = 0.1
#: Recorded task fields given in epoch seconds by the decisions, stored as datetimes.
_EPOCH_FIELDS = ("next_try_at",)


class RunExecution:
    """The live state of one run on one Dask client, and the calls that move it forward."""

    def __init__(self, dag: Any, run: DagRunInfo, client: Any, recorder: Any, topic: str,
                 token: str | None = None, *, results_url: str | None = None,
                 store_url: str | None = None,
                 stored: dict[tuple[str, int], StoredInstance] | None = None,
                 pools: dict[str, int] | None = None,
                 lease: Callable[[], tuple[str, float] | None] | None = None) -> None:
        self.dag = dag
        self.run = run
        self.client = client
        self.recorder = recorder
        self.topic = topic
        self.futures: dict[str, Any] = {}
        usable, needed = rules.usable_stored(dag, stored or {}, outcome_exists)
        token = token or secrets.token_hex(4)
        names = key_names_for(dag, token, int(config.get("key-prefix-max-width", 100)))
        self.decisions = RunDecisions(dag, run.dag_id, run.run_id, token,
                                      stored=usable, needed=needed,
                                      statuses=_FutureStatuses(self.futures),
                                      plan=tasks_for_run(dag, run.logical_date, run.run_type),
                                      key_names=names)
        self.token = token
        self.started = time.time()
        self.weights = dag.priority_weights()
        self.results_url = results_url
        #: Where the run's tasks look connections and variables up.
        self.store_url = store_url
        self.log_limit = int(config.get("log-max-bytes", MAX_LOG_BYTES))
        self.start_report_delay = float(config.get("start-report-delay", 0.1))
        self.pools = pools
        self._limits: dict[str, Any] = {}
        self._unwatched: list[str] = []
        self._done_marks: dict[str, dict[str, Any]] = {}
        self._marks_sent = 0.0
        self._death_reasons: dict[str, str | None] = {}
        #: (task, report) of every attempt outcome, for callbacks and notifications.
        self.ended: list[tuple[Any, Report]] = []
        #: ``(lease_id, until)`` of the run now (``execution/lease.py``); None: unleased.
        self.lease = lease
        #: ``time.monotonic()`` of the last sign of progress (for :meth:`check_stall`).
        self.last_progress = time.monotonic()
        #: Keys Dask lost, found by the last stall check (the caller resubmits the run).
        self._lost: list[str] = []
        #: Runs deferred tasks' triggers (``execution/triggerer.py``); set by the driver.
        self.triggerer: Any = None
        #: The worker plugin carrying what the run's nodes share (``run_payload.py``),
        #: once registered.
        self._payload: str | None = None


    # -- the decisions' view, for the driver and the loop -------------------------------
    @property
    def instances(self) -> dict[tuple[str, int], Instance]:
        return self.decisions.instances

    @property
    def keys(self) -> dict[str, tuple[str, int]]:
        return self.decisions.keys

    @property
    def hold(self) -> set[str]:
        return self.decisions.hold

    @property
    def refused(self) -> set[str]:
        return self.decisions.refused

    @property
    def finished(self) -> bool:
        return self.decisions.finished

    def final_state(self) -> DagRunState:
        return self.decisions.final_state()

    def next_timer(self) -> float | None:
        return self.decisions.next_timer()

    def counts(self) -> dict[str, int]:
        return self.decisions.counts()

    def waits_for_error(self, now: float) -> bool:
        return self.decisions.waits_for_error(now)

    # -- events in ------------------------------------------------------------------
    def start(self, hold: set[str] | None = None) -> None:
        self._send_payload()
        threads = sum(self.client.nthreads().values()) or 1
        self._limits = plan_limits(self.dag, self.pools, threads, self.run.run_id)
        register_limits(self.client, [lim for found in self._limits.values()
                                      for lim in found if isinstance(found, tuple)])
        self.decisions.hold = set(hold or ())
        for task_id, reason in self.decisions.plan.left_out.items():
            logger.info("DAG %r run %r has no instance of task %r: %s", self.run.dag_id,
                        self.run.run_id, task_id, reason)
        self._carry_out(self.decisions.start())

    def set_hold(self, hold: set[str]) -> None:
        """Tasks not to submit yet (``depends_on_past``); submits the ones let go."""
        self._carry_out(self.decisions.holds_changed(hold))

    def on_report(self, report: Report | dict[str, Any], now: float) -> None:
        if not isinstance(report, Report):
            report = Report.from_wire(report)
        self.last_progress = time.monotonic()
        self._carry_out(self.decisions.task_reported(report, now))

    def on_future_error(self, key: str, exception: BaseException, now: float) -> None:
        """A key erred or was cancelled; the decisions hear how, in plain terms."""
        if key not in self.decisions.keys:
            return
        self.last_progress = time.monotonic()
        self._carry_out(self.decisions.key_erred(self._classify(key, exception), now))

    def on_trigger(self, key: str, kind: str, payload: Any, now: float) -> None:
        """A deferred task's trigger fired (or failed): the task resumes."""
        self.last_progress = time.monotonic()
        self._carry_out(self.decisions.trigger_fired(key, kind, payload, now))

    def fire_timers(self, now: float) -> int:
        """Retry every key whose delay has passed; send done marks now and then."""
        self._send_done_marks(now)
        instructions = self.decisions.time_passed(now)
        self._carry_out(instructions)
        return sum(isinstance(i, rules.RunAgain) for i in instructions)

    def retry_refused(self) -> int:
        """Run again the keys whose nodes found the lease expired (it is valid again)."""
        count = len(self.decisions.refused)
        self._carry_out(self.decisions.lease_renewed())
        return count

    def check_stall(self, now: float, timeout: float) -> list[str]:
        """Find out why the run made no progress for ``timeout`` seconds, and end that.

        ``now`` is ``time.monotonic()``. A task running on a worker, however
        long, is progress (``execution_timeout`` is the tool for those). A key
        waiting for a worker that can take it fails with the reason
        (``StalledTask``; its retries apply); a key that finished without its
        report reaching the loop is recorded from its outcome. Returns the
        keys Dask no longer has: the caller resubmits the run from the store.
        """
        if not self.decisions.may_be_stalled() or now - self.last_progress < timeout:
            return []
        unfinished = self.decisions.unfinished_keys()
        if not unfinished:
            return []
        self.last_progress = now
        self._lost = []
        self._carry_out(self.decisions.keys_stalled(key_states(self.client, unfinished),
                                                    timeout))
        return self._lost

    def stop(self, reason: str, running_as: Any = None) -> None:
        """End the run now (dagrun_timeout, a cancel): see :meth:`RunDecisions.stop`."""
        if running_as is None:
            self._carry_out(self.decisions.stop(reason))
        else:
            self._carry_out(self.decisions.stop(reason, running_as))

    def release(self) -> None:
        """Let Dask forget this run's results and payload (and, once it ended, its limits)."""
        self.futures.clear()
        if self._payload is not None:
            run_payload.forget(self.client, self._payload)
            self._payload = None
        if self.finished:
            forget_limits(self.client, self._limits)

    def cancel(self) -> None:
        """Cancel every key of the run on the cluster (the run was lost to another loop)."""
        self.stop_triggers()
        if self.futures:
            self.client.cancel(list(self.futures.values()), force=True)
        self.release()

    def take_new_futures(self) -> list[Any]:
        """Futures submitted or re-run since the last call (the driver watches each once)."""
        keys, self._unwatched = self._unwatched, []
        return [self.futures[k] for k in keys if k in self.futures]

    # -- instructions out -------------------------------------------------------------
    def _carry_out(self, instructions: list[rules.Instruction]) -> None:
        for instruction in instructions:
            handler = _HANDLERS[type(instruction)]
            handler(self, instruction)

    def _submit(self, instruction: rules.SubmitNodes) -> None:
        # What this process has registered as secret, read once for the whole wave.
        known_secrets = masking.registered_since(0)
        graph = {node.key: self._graph_task(node, known_secrets)
                 for node in instruction.nodes}
        self.last_progress = time.monotonic()
        # The graph's own name: Dask would otherwise hash every node of it to make one,
        # and its keys are unique to this submission already.
        expr = LLGExpr(graph, _determ_token=secrets.token_hex(8))
        with dask.annotate(**self._annotations(instruction.nodes)):
            futures = self.client.get(expr, list(graph), sync=False)
        for key, future in zip(graph, futures, strict=True):
            self.futures[key] = future
        self._unwatched.extend(graph)

    def _graph_task(self, node: rules.PlannedNode, known_secrets: tuple[str, ...]) -> Any:
        if node.replay is not None:
            return Task(node.key, load_outcome, node.replay.result_ref or "trivial",
                        node.task_id, node.map_index, node.replay.state)
        if self._payload is None:
            raise RuntimeError(f"run {self.run.run_id!r}: nodes submitted before start()")
        ref = NodeRef(self._payload, self.token, node.task_id, tuple(node.upstream),
                      map_index=node.map_index,
                      length_keys=tuple(sorted(self.decisions.length_keys.get(
                          node.task_id, ()))),
                      unexpandable=node.unexpandable, first_try=node.first_try,
                      pokes=node.pokes, secrets=known_secrets,
                      **self._limit_fields(node.task_id))
        return node_task(node.key, ref, node.upstream)

    def _send_payload(self) -> None:
        """Register what every node of this submission shares on the cluster, once."""
        if self._payload is not None:
            return
        shared = RunShared(run=self.run, topic=self.topic, tasks=dict(self.dag.task_dict),
                           results_url=self.results_url, store_url=self.store_url,
                           log_limit=self.log_limit,
                           start_report_delay=self.start_report_delay)
        self._payload = run_payload.register(self.client, self.token, shared)

    def _limit_fields(self, task_id: str) -> dict[str, Any]:
        planned = self._limits.get(task_id, ())
        if isinstance(planned, str):
            return {"blocked": planned}
        return {"limits": planned}

    def _annotations(self, nodes: tuple[rules.PlannedNode, ...]) -> dict[str, Any]:
        """Per-key Dask priority (Airflow's priority_weight) and worker resources."""
        priority = {n.key: self.weights[n.task_id] for n in nodes}
        annotations: dict[str, Any] = {"priority": ByKey(priority, 0)}
        lease = self.lease() if self.lease is not None else None
        if lease is not None:
            annotations[LEASE_ANNOTATION] = lease
        waiting = {n.key: n.not_before for n in nodes if n.not_before is not None}
        if waiting:
            annotations[NOT_BEFORE_ANNOTATION] = ByKey(waiting, None)
        resources = {n.key: r for n in nodes if n.replay is None
                     and (r := self.dag.task_dict[n.task_id].resources)}
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

    def _run_again(self, instruction: rules.RunAgain) -> None:
        """``Client.retry`` the keys, with their annotations updated first."""
        updates: dict[str, dict[str, Any]] = {}
        for key, number in instruction.tries.items():
            updates.setdefault(key, {})[TRY_ANNOTATION] = number
        for key, (state, error, tried) in instruction.forced.items():
            updates.setdefault(key, {})[FORCED_ANNOTATION] = {
                "state": state, "error": error, "try": tried}
        for key in instruction.forget_done:
            updates.setdefault(key, {})[DONE_ANNOTATION] = None
        for key, pokes in instruction.pokes.items():
            updates.setdefault(key, {})[POKES_ANNOTATION] = list(pokes)
        for key in instruction.tries:
            # Only the try that follows a fired trigger resumes; a later try starts afresh.
            resume = instruction.resume.get(key)
            updates.setdefault(key, {})[RESUME_ANNOTATION] = resume
            if resume is not None:
                updates[key][NOT_BEFORE_ANNOTATION] = None
        keys = [k for k in instruction.keys if k in self.futures]
        try:
            set_annotations(self.client, updates)
            self.client.retry([self.futures[k] for k in keys])
        except Exception as exc:  # the keys are gone (a restarted scheduler): resubmitted later
            logger.warning("DAG %r run %r: could not re-run %d keys (%s); the loop resubmits "
                           "the run if the Dask scheduler restarted", self.run.dag_id,
                           self.run.run_id, len(keys), describe_error(exc))
            return
        # Done callbacks fire once: watch the retried futures again.
        self._unwatched.extend(keys)

    def _record_report(self, instruction: rules.RecordReport) -> None:
        self.recorder.report(instruction.report, operator=instruction.operator)

    def _record_task(self, instruction: rules.RecordTask) -> None:
        changes = {name: _utc(value) if name in _EPOCH_FIELDS else value
                   for name, value in instruction.changes.items()}
        self.recorder.task(self.run.dag_id, self.run.run_id, instruction.task_id,
                           instruction.map_index, **changes)

    def _task_ended(self, instruction: rules.TaskEnded) -> None:
        self.ended.append((self.dag.task_dict[instruction.task_id], instruction.report))

    def _mark_done(self, instruction: rules.MarkDone) -> None:
        self._done_marks[instruction.key] = {DONE_ANNOTATION: instruction.result_ref}

    def _fail_stuck(self, instruction: rules.FailStuck) -> None:
        fail_stuck(self.client, instruction.reasons)

    def _recover_reports(self, instruction: rules.RecoverReports) -> None:
        """Nodes finished but their reports never came: record what their outcomes say."""
        for key in instruction.keys:
            instance = self.decisions.instance_of(key)
            try:
                outcome = self.futures[key].result(timeout=60)
            except Exception:  # it erred after all: on_future_error hears of it
                continue
            wanted = self.decisions.length_keys.get(instance.task_id, ())
            lens = {k: (len(v) if isinstance(v, (list, tuple, dict)) else None)
                    for k in wanted for v in [outcome.xcom(k)]}
            self.on_report(Report(
                kind=END, key=key, dag_id=self.run.dag_id, run_id=self.run.run_id,
                task_id=instance.task_id, map_index=instance.map_index,
                try_number=max(instance.try_number, 1), state=outcome.state.value,
                start=instance.start, end=time.time(), lens=lens,
                log="daskflow never received this attempt's report; its outcome was read "
                    "from the Dask cluster\n"), time.time())

    def _resubmit_run(self, instruction: rules.ResubmitRun) -> None:
        self._lost = list(instruction.keys)

    def _start_trigger(self, instruction: rules.StartTrigger) -> None:
        if self.triggerer is None:
            raise RuntimeError("a run with deferred tasks needs the driver's triggerer")
        self.triggerer.start(self._trigger_id(instruction.key), instruction.deferral,
                             self.store_url)

    def _stop_triggers(self, instruction: rules.StopTriggers) -> None:
        if self.triggerer is not None:
            self.triggerer.stop([self._trigger_id(k) for k in instruction.keys])

    def stop_triggers(self) -> None:
        """Stop every trigger this run waits on (it leaves this driver)."""
        if self.triggerer is not None:
            self.triggerer.stop([self._trigger_id(i.key) for i in self.instances.values()
                                 if i.deferral is not None])

    def _trigger_id(self, key: str) -> tuple[str, str, str]:
        return (self.run.dag_id, self.run.run_id, key)

    def _cancel_keys(self, instruction: rules.CancelKeys) -> None:
        if self.futures:
            self.client.cancel(list(self.futures.values()), force=True)

    def _warn(self, instruction: rules.Warn) -> None:
        logger.warning("%s", instruction.message)

    # -- helpers ------------------------------------------------------------------------
    def _classify(self, key: str, exception: BaseException) -> KeyErred:
        if isinstance(exception, (RetryAttempt, NotYet, RescheduleAttempt, DeferAttempt)):
            kind = rules.PLANNED
        elif isinstance(exception, LeaseExpired):
            kind = rules.LEASE_EXPIRED
        elif isinstance(exception, CancelledError):
            kind = rules.CANCELLED
        else:
            kind = rules.CRASHED
        worker_died = type(exception).__name__ == "KilledWorker"
        killed = getattr(exception, "task", None) if worker_died else None
        error = describe_error(exception)
        if kind == rules.CRASHED and worker_died and killed in (None, key):
            error = self._crash_text(exception, error)
        return KeyErred(key, kind, error, killed_key=killed)

    def _crash_text(self, exception: BaseException, error: str) -> str:
        """The error of a crashed attempt, saying why its worker died when the cluster knows."""
        worker = getattr(exception, "last_worker", None)
        if worker is None:
            return error
        address = getattr(worker, "address", worker)
        if self._death_reasons.get(address) is None:
            self._death_reasons[address] = self._ask_death_reason(address)
        reason = self._death_reasons[address]
        return ("KilledWorker: the worker running the task died: "
                f"{reason or f'the worker process {address} ended'}")

    def _ask_death_reason(self, address: str) -> str | None:
        for _ in range(CRASH_REASON_TRIES):  # the nanny's word may arrive just after
            try:
                reason = worker_death(self.client, address)
            except Exception:  # a scheduler without daskflow's plugin cannot say
                return None
            if reason:
                return reason
            time.sleep(CRASH_REASON_WAIT)
        return None

    def _send_done_marks(self, now: float) -> None:
        """Tell the scheduler which keys are recorded successes (twice a second at most).

        Sent from a background thread: the loop does not wait on a busy scheduler
        for what only matters if a worker dies later.
        """
        if self._done_marks and now - self._marks_sent >= DONE_MARK_INTERVAL:
            marks, self._done_marks = self._done_marks, {}
            self._marks_sent = now
            _background.submit(_send_quietly, self.client, marks)


_HANDLERS: dict[type, Callable[[RunExecution, Any], None]] = {
    rules.SubmitNodes: RunExecution._submit,
    rules.RunAgain: RunExecution._run_again,
    rules.StartTrigger: RunExecution._start_trigger,
    rules.StopTriggers: RunExecution._stop_triggers,
    rules.RecordReport: RunExecution._record_report,
    rules.RecordTask: RunExecution._record_task,
    rules.TaskEnded: RunExecution._task_ended,
    rules.MarkDone: RunExecution._mark_done,
    rules.FailStuck: RunExecution._fail_stuck,
    rules.RecoverReports: RunExecution._recover_reports,
    rules.ResubmitRun: RunExecution._resubmit_run,
    rules.CancelKeys: RunExecution._cancel_keys,
    rules.Warn: RunExecution._warn,
}


class _FutureStatuses(Mapping[str, str]):
    """Each key's Dask future status, read when asked (what the decisions may read)."""

    def __init__(self, futures: dict[str, Any]) -> None:
        self._futures = futures

    def __getitem__(self, key: str) -> str:
        return self._futures[key].status

    def __iter__(self) -> Iterator[str]:
        return iter(self._futures)

    def __len__(self) -> int:
        return len(self._futures)

    def __contains__(self, key: object) -> bool:
        return key in self._futures


#: One thread per process sends done marks, so the loop never waits for them.
_background = ThreadPoolExecutor(1, thread_name_prefix="daskflow-done-marks")


def _send_quietly(client: Any, marks: dict[str, dict[str, Any]]) -> None:
    try:
        set_annotations(client, marks)
    except Exception:  # the client closed or the scheduler restarted: nothing to mark
        logger.debug("could not send %d done marks", len(marks), exc_info=True)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)
