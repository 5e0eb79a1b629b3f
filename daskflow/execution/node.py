"""The node: what one Dask key runs for one task instance.

A node gets its spec and the outcomes of its direct upstream tasks (Dask
delivers them, wherever they live) and returns this task instance's
:class:`Outcome`. In order, it:

1. takes an outcome the loop forced on it, if any (a crashed attempt that
   used up its retries is recorded as failed without running the code again);
2. decides from the upstream outcomes whether to run at all: a branch that
   did not choose it or a short-circuit skips it, otherwise the trigger rule
   decides (``models/trigger_rules.py``);
3. runs one attempt: resolves upstream values into its arguments, renders
   templates, calls ``execute`` with stdout/stderr/logging captured and the
   ``execution_timeout`` enforced, and reports to the loop (the start report
   waits ``start_report_delay`` seconds and is dropped if the attempt ends
   first: see :class:`_HeldStarts`);
4. on failure with retries left raises :class:`RetryAttempt`, so that the
   retry delay is waited out by the loop, not by a worker thread; a task
   that defers (``BaseOperator.defer``) reports its trigger and raises
   :class:`DeferAttempt` the same way, and resumes when the loop re-runs
   the key with the trigger's event in its annotations.

The task's success/failure/retry/skip callbacks are not run here: the loop
runs them once per reported outcome (``execution/callbacks.py``), since Dask
may execute a node more than once.

The try number comes from the key's annotations, which the loop updates on
the scheduler before ``Client.retry``: a first try costs no extra round trip.
"""

from __future__ import annotations

import contextvars
import ctypes
import logging
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from daskflow.exceptions import (
    TaskDeferred,
    TaskFailedNoRetry,
    TaskReschedule,
    TaskSkipped,
    TaskTimeout,
)
from daskflow.execution import capture, lease, limits, results
from daskflow.execution.annotations import FORCED
from daskflow.execution.cluster_plugins import LEASE_ANNOTATION, QUEUED_ANNOTATION
from daskflow.execution.deferral import deferral_of
from daskflow.execution.outcome import (
    DeferAttempt,
    NotYet,
    Outcome,
    RescheduleAttempt,
    RetryAttempt,
    describe_error,
    display,
)
from daskflow.execution.report import END, START, Report, travels
from daskflow.execution.run_payload import NodeRef, shared_of
from daskflow.models.context import (
    DagRunInfo,
    RuntimeTaskInstance,
    build_context,
    reset_current_context,
    set_current_context,
)
from daskflow.models.mapping import resolved_copy
from daskflow.models.state import TaskInstanceState
from daskflow.models.templating import render_fields
from daskflow.models.trigger_rules import decide
from daskflow.models.xcom_arg import ParamArg, XComArg
from daskflow.secrets import masking
from daskflow.secrets.lookup import using_store
from daskflow.secrets.masking import redact, redact_value
from daskflow.secrets.templates import template_lookups
from daskflow.triggers.serialization import decode

TI = TaskInstanceState
TRY_ANNOTATION = "daskflow_try"
FORCED_ANNOTATION = FORCED
#: Set by the loop once a success is recorded: the stored outcome's reference.
DONE_ANNOTATION = "daskflow_done"
#: Set by a loop that resumed a run while this instance's retry delay ran (epoch seconds).
NOT_BEFORE_ANNOTATION = "daskflow_not_before"
#: Set by the loop on a rescheduled sensor: (first poke epoch seconds, pokes so far).
POKES_ANNOTATION = "daskflow_pokes"
#: Set by the loop when a deferred task's trigger fired or failed: where the try resumes
#: (``{"method", "kwargs", "start"}``, trigger payloads encoded as in ``triggers/serialization``).
RESUME_ANNOTATION = "daskflow_resume"
_HOSTNAME = socket.gethostname()


@dataclass(frozen=True)
class NodeSpec:
    """Everything a node needs besides its upstream outcomes."""

    task: Any
    run: DagRunInfo
    topic: str
    upstream_ids: tuple[str, ...]
    map_index: int = -1
    first_try: int = 1
    #: XCom keys whose lengths the loop needs to expand mapped tasks.
    length_keys: tuple[str, ...] = ()
    #: A mapped task that cannot expand (empty input, or its input never came).
    unexpandable: bool = False
    #: Where outcomes are kept for recovery (``execution/results.py``); None: nowhere.
    results_url: str | None = None
    #: Pool and DAG slot limits to hold while running (``execution/limits.py``).
    limits: tuple = ()
    #: Why this instance cannot run at all (e.g. an unknown pool): it fails with this.
    blocked: str | None = None
    #: Bytes of an attempt's log to keep (``daskflow.log-max-bytes``).
    log_limit: int = capture.MAX_LOG_BYTES
    #: A rescheduled sensor resumed from the store: (first poke, pokes so far).
    pokes: tuple[float, int] | None = None
    #: The metadata store of the run, where connections and variables are looked up
    #: (``secrets/lookup.py``); None: the worker's configured store.
    store_url: str | None = None
    #: Secrets the loop's process registered (a connection it read, ``mask_secret`` in the
    #: script that called ``dag.test``): the node registers them before it runs.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Seconds the start report waits (``daskflow.start-report-delay``): an attempt that
    #: ends sooner sends only its end report.
    start_report_delay: float = 0.0

    def __dask_tokenize__(self) -> tuple:
        # Keys are unique per submission already; without this Dask would hash the
        # pickled operator of every node when the graph is submitted.
        return ("daskflow-node", self.topic, self.run.dag_id, self.run.run_id,
                self.task.task_id, self.map_index, self.first_try)


def spec_of(ref: NodeRef, worker: Any) -> NodeSpec:
    """The whole spec of a graph node: its own part and its run's payload on ``worker``
    (``execution/run_payload.py``)."""
    shared = shared_of(worker, ref)
    return NodeSpec(task=shared.tasks[ref.task_id], run=shared.run, topic=shared.topic,
                    upstream_ids=ref.upstream_ids, map_index=ref.map_index,
                    first_try=ref.first_try, length_keys=ref.length_keys,
                    unexpandable=ref.unexpandable, results_url=shared.results_url,
                    limits=ref.limits, blocked=ref.blocked, log_limit=shared.log_limit,
                    pokes=ref.pokes, store_url=shared.store_url, secrets=ref.secrets,
                    start_report_delay=shared.start_report_delay)


class _PlannedRetryFilter(logging.Filter):
    """Drops the worker's "Compute Failed" error for a planned retry: it is not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(planned in message
                       for planned in ("RetryAttempt(", "NotYet(", "RescheduleAttempt(",
                                       "DeferAttempt("))


_retry_filter = _PlannedRetryFilter()


def run_node(spec: NodeSpec | NodeRef, *upstream: Any) -> Outcome:
    """Run one task instance; see the module docstring for the steps."""
    worker_logger = logging.getLogger("distributed.worker")
    if _retry_filter not in worker_logger.filters:
        worker_logger.addFilter(_retry_filter)
    if isinstance(spec, NodeRef):
        spec = spec_of(spec, _worker())
    worker, key, annotations = _whereabouts()
    done = annotations.get(DONE_ANNOTATION)
    if done is not None:
        # Dask lost this recorded success with a worker and runs it again: replay it.
        return results.load_outcome(done, spec.task.task_id, spec.map_index)
    outcomes = dict(zip(spec.upstream_ids, upstream, strict=True))
    forced = annotations.get(FORCED_ANNOTATION)
    if forced is not None:
        # The loop recorded this crash itself; the outcome only tells downstream tasks.
        return Outcome(task_id=spec.task.task_id, map_index=spec.map_index,
                       state=TI(forced["state"]))
    resume = annotations.get(RESUME_ANNOTATION)
    not_before = annotations.get(NOT_BEFORE_ANNOTATION)
    if resume is None and not_before is not None and time.time() < not_before:
        raise NotYet(spec.task.task_id, not_before)
    skip = _skip_or_trigger(spec, outcomes)
    if skip is not None:
        state, descendants = skip
        return _finish_without_running(spec, key, worker, state, None, 0,
                                       skip_descendants=descendants)
    if spec.unexpandable:
        return _unexpandable(spec, key, worker, outcomes)
    try_number = int(annotations.get(TRY_ANNOTATION, spec.first_try))
    if spec.blocked is not None:
        return _finish_without_running(spec, key, worker, TI.FAILED, spec.blocked, try_number)
    lease.check(annotations.get(LEASE_ANNOTATION), _worker(), spec.task.task_id)
    pokes = annotations.get(POKES_ANNOTATION) or spec.pokes
    with limits.held(spec.limits):
        return _attempt(spec, key, worker, outcomes, try_number,
                        tuple(pokes) if pokes else None, resume,
                        annotations.get(QUEUED_ANNOTATION))


# -- deciding -------------------------------------------------------------------------
def _skip_or_trigger(spec: NodeSpec, outcomes: dict[str, Any]) -> tuple[TI, bool] | None:
    """``(state, skip_descendants)`` when this instance must not run, else ``None``."""
    task_id = spec.task.task_id
    states: list[TI] = []
    for outcome in _each(outcomes):
        if outcome.skip_descendants:
            return TI.SKIPPED, True
        if outcome.skip_direct:
            return TI.SKIPPED, False
        if outcome.followed is not None and not _is_followed(task_id, outcome.followed):
            return TI.SKIPPED, False
        states.append(outcome.state)
    decision = decide(spec.task.trigger_rule, states)
    return None if decision is None else (decision, False)


def _each(outcomes: dict[str, Any]):
    for outcome in outcomes.values():
        yield from (outcome if isinstance(outcome, list) else [outcome])


def _is_followed(task_id: str, followed: frozenset[str]) -> bool:
    return task_id in followed or any(task_id.startswith(f + ".") for f in followed)


# -- running --------------------------------------------------------------------------
@dataclass
class Attempt:
    """What one execution of the task's code produced."""

    state: TI = TI.SUCCESS
    value: Any = None
    error: str | None = None
    #: The failure's full traceback.
    traceback: str | None = None
    #: What a task that skipped itself said.
    skipped_because: str | None = None
    #: A sensor in reschedule mode that will poke again.
    reschedule: TaskReschedule | None = None
    #: A task that deferred: its trigger, where it resumes, its timeout (plain values).
    deferral: dict[str, Any] | None = None
    followed: frozenset[str] | None = None
    rendered: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    ti: RuntimeTaskInstance | None = None


def _attempt(spec: NodeSpec, key: str | None, worker: str | None,
             outcomes: dict[str, Any], try_number: int,
             pokes: tuple[float, int] | None = None,
             resume: dict[str, Any] | None = None, queued: float | None = None) -> Outcome:
    # A rescheduled sensor's attempt started at its first poke (Airflow's start date),
    # a resumed deferred task's when it first ran.
    start = pokes[0] if pokes else (resume or {}).get("start") or time.time()
    queued = queued if queued is not None and queued <= start else None
    held = _emit_start(spec.topic, _report(spec, key, worker, try_number, START, TI.RUNNING,
                                           start=start, queued=queued),
                       spec.start_report_delay)
    try:
        result_ref = None
        point = masking.mark()
        # Secrets known to the loop or upstream may be in what this task receives or reads.
        masking.mask_secret([*spec.secrets, *(s for o in _each(outcomes) for s in o.secrets)])
        with capture.capture(spec.log_limit) as log:
            attempt = _run_code(spec, outcomes, try_number, pokes, resume)
            outcome = _outcome_of(spec, attempt, masking.registered_since(point))
            if attempt.state is TI.SUCCESS:
                try:
                    result_ref = _keep(spec, outcome)
                except results.UnpicklableResult as exc:
                    print(f"ERROR: {exc}")
                    _failed(attempt, spec.task, try_number, exc)
                    outcome = _outcome_of(spec, attempt, masking.registered_since(point))
        succeeded = attempt.state is TI.SUCCESS
        report = _report(
            spec, key, worker, try_number, END, attempt.state, queued=queued, start=start,
            end=time.time(),
            error=attempt.error, log=log.getvalue(),
            rendered=_rendered_display(attempt.rendered),
            xcom=_xcom_display(outcome, spec.task) if succeeded else None,
            lens=_lengths(outcome, spec.length_keys) if succeeded else None,
            result=result_ref if succeeded else None,
            reschedule_at=attempt.reschedule.at if attempt.reschedule else None,
            pokes=attempt.reschedule.pokes if attempt.reschedule else 0,
            deferral=attempt.deferral)
    finally:
        # Before the end report goes, and whatever ended the attempt.
        _held_starts.drop(held)
    problem = _emit_end(spec.topic, report)
    if problem is not None:
        return Outcome(task_id=spec.task.task_id, map_index=spec.map_index, state=TI.FAILED)
    if attempt.state is TI.UP_FOR_RETRY:
        raise RetryAttempt(spec.task.task_id, try_number, attempt.error or "")
    if attempt.reschedule is not None:
        raise RescheduleAttempt(spec.task.task_id, attempt.reschedule.at)
    if attempt.deferral is not None:
        raise DeferAttempt(spec.task.task_id)
    return outcome


def _outcome_of(spec: NodeSpec, attempt: Attempt, secrets: tuple[str, ...] = ()) -> Outcome:
    outcome = Outcome(task_id=spec.task.task_id, map_index=spec.map_index, state=attempt.state,
                      secrets=secrets)
    if attempt.state is TI.SUCCESS:
        _fill_success(outcome, spec.task, attempt)
    return outcome


def _run_code(spec: NodeSpec, outcomes: dict[str, Any], try_number: int,
              pokes: tuple[float, int] | None = None,
              resume: dict[str, Any] | None = None) -> Attempt:
    try:
        task = _concrete_task(spec, outcomes)
        if pokes is not None and getattr(task, "reschedule", False):
            task.first_poke, task.pokes = pokes
    except Exception as exc:  # an upstream value or a param that cannot be filled in
        attempt = Attempt(traceback=traceback.format_exc())
        print(attempt.traceback, end="", file=sys.stderr)
        _failed(attempt, spec.task, try_number, exc)
        return attempt
    with using_store(spec.store_url):
        return run_attempt(task, spec.run, try_number, spec.map_index, _xcom_view(outcomes),
                           resume=resume)


def run_attempt(task: Any, run: DagRunInfo, try_number: int, map_index: int,
                upstream_xcoms: dict[str, dict[str, Any]], *, test_mode: bool = False,
                show_traceback: bool = True, resume: dict[str, Any] | None = None) -> Attempt:
    """Run one attempt of ``task`` (a concrete copy, arguments filled in) right here.

    Everything the task's code goes through is here: the context, rendering,
    ``on_execute_callback``, ``execution_timeout``, the ``multiple_outputs``
    check and a branch's choice. Nodes on Dask workers run it, and so does
    ``daskflow tasks test`` (with ``test_mode``), so a task tested alone runs
    the same way it runs in a DAG run. ``resume`` continues a deferred task
    in the method its trigger named instead of calling ``execute``.
    """
    attempt = Attempt()
    try:
        attempt.ti = RuntimeTaskInstance(
            task=task, run=run, try_number=try_number, max_tries=task.retries,
            map_index=map_index, hostname=_HOSTNAME, upstream_xcoms=upstream_xcoms)
        attempt.context = context = build_context(task, run, attempt.ti, dag=task.dag,
                                                         lookups=template_lookups())
        if test_mode:
            context["test_mode"] = True
        token = set_current_context(context)
        try:
            attempt.rendered = render_fields(task, context)
            _call_all(task.on_execute_callback, context)
            attempt.value = _execute(task, context, resume)
        finally:
            reset_current_context(token)
        _check_multiple_outputs(task, attempt.value)
        if task.is_branch:
            attempt.followed = _branch_ids(task, attempt.value)
    except TaskDeferred as exc:
        try:
            attempt.deferral = deferral_of(exc)
        except TypeError as problem:  # a trigger argument the store cannot keep
            attempt.traceback = f"{type(problem).__name__}: {problem}\n"
            print(f"ERROR: task {task.task_id!r} cannot defer: {problem}", file=sys.stderr)
            _failed(attempt, task, try_number, problem)
        else:
            attempt.state, attempt.value = TI.DEFERRED, None
            if show_traceback:
                print(f"Deferred: waiting on {type(exc.trigger).__name__}, then resuming in "
                      f"{exc.method_name}()")
    except TaskReschedule as exc:
        attempt.state, attempt.value, attempt.reschedule = TI.UP_FOR_RESCHEDULE, None, exc
        if show_traceback:
            print(f"Not yet: the sensor pokes again in {max(exc.at - time.time(), 0):.1f}s")
    except TaskSkipped as exc:
        attempt.state, attempt.value = TI.SKIPPED, None
        attempt.skipped_because = str(exc) or None
        if show_traceback:
            print(f"Task skipped: {exc}")
    except Exception as exc:  # the task's own failure, reported with its traceback
        attempt.traceback = traceback.format_exc()
        if show_traceback:
            print(attempt.traceback, end="", file=sys.stderr)
        _failed(attempt, task, try_number, exc)
    return attempt


def _failed(attempt: Attempt, task: Any, try_number: int, exc: Exception) -> None:
    """Make ``attempt`` a failure: up for retry while the task has retries left."""
    attempt.error = describe_error(exc)
    retry = try_number <= task.retries and not isinstance(exc, TaskFailedNoRetry)
    attempt.state = TI.UP_FOR_RETRY if retry else TI.FAILED
    attempt.value, attempt.followed = None, None
    if attempt.context is not None:
        attempt.context["exception"] = exc


def _keep(spec: NodeSpec, outcome: Outcome) -> str | None:
    """Check that the outcome can travel, and store it for recovery.

    A value that cannot be pickled raises :class:`results.UnpicklableResult`
    (the task fails); a failure to store is logged, not fatal: only recovery
    loses this value.
    """
    if results.is_trivial(outcome):
        return results.TRIVIAL if spec.results_url is not None else None
    data = results.pickled(outcome)
    if spec.results_url is None:
        return None
    try:
        return results.save_outcome(spec.results_url, spec.run.dag_id, spec.run.run_id,
                                    outcome, data)
    except Exception as exc:  # the run goes on; only recovery loses this value
        print(f"WARNING: could not store the result for recovery: {describe_error(exc)}")
        return None


def _concrete_task(spec: NodeSpec, outcomes: dict[str, Any]) -> Any:
    """A private copy of the task with upstream values and params filled in."""
    params = {**(getattr(spec.task.dag, "params", None) or {}), **(spec.run.conf or {})}

    def resolve(ref: Any) -> Any:
        if isinstance(ref, ParamArg):
            return params.get(ref.name)
        return _resolve_xcom(ref, outcomes)

    return resolved_copy(spec.task, spec.map_index, resolve)


def _resolve_xcom(ref: XComArg, outcomes: dict[str, Any]) -> Any:
    upstream = outcomes[ref.task_id]
    if isinstance(upstream, list):
        return [o.xcom(ref.key) for o in upstream]
    return upstream.xcom(ref.key)


def _xcom_view(outcomes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    view: dict[str, dict[str, Any]] = {}
    for task_id, outcome in outcomes.items():
        if isinstance(outcome, list):
            view[task_id] = {"return_value": [o.value for o in outcome]}
        else:
            view[task_id] = {**outcome.xcoms, "return_value": outcome.value}
    return view


def _execute(task: Any, context: dict[str, Any], resume: dict[str, Any] | None = None) -> Any:
    """``task.execute(context)`` (or where a deferred task resumes), stopped at its
    ``execution_timeout``."""
    call = task.execute
    if resume is not None:
        def call(context: dict[str, Any]) -> Any:
            return task.resume_execution(resume["method"], decode(resume.get("kwargs") or {}),
                                         context)
    timeout = task.execution_timeout
    if timeout is None:
        return call(context)
    result: dict[str, Any] = {}
    run_in_context = contextvars.copy_context().run

    def target() -> None:
        try:
            result["value"] = run_in_context(call, context)
        except BaseException as exc:  # handed back to the node's thread below
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"daskflow-{task.task_id}", daemon=True)
    thread.start()
    thread.join(timeout.total_seconds())
    if thread.is_alive():
        task.on_kill()
        _interrupt(thread)
        thread.join(1.0)
        raise TaskTimeout(f"task {task.task_id!r} timed out after {timeout.total_seconds():g}s "
                          "(execution_timeout)")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _interrupt(thread: threading.Thread) -> None:
    """Raise TaskTimeout inside a timed-out Python thread (it stops at its next bytecode)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(TaskTimeout))


def _fill_success(outcome: Outcome, task: Any, attempt: Attempt) -> None:
    outcome.followed = attempt.followed
    if task.is_short_circuit and not attempt.value:
        if getattr(task, "ignore_downstream_trigger_rules", True):
            outcome.skip_descendants = True
        else:
            outcome.skip_direct = True
    if task.do_xcom_push:
        outcome.value = attempt.value
        if task.multiple_outputs and isinstance(attempt.value, dict):
            outcome.xcoms.update({str(k): v for k, v in attempt.value.items()})
    if attempt.ti is not None:
        outcome.xcoms.update(attempt.ti.pushed)


def _check_multiple_outputs(task: Any, value: Any) -> None:
    """As in Airflow, ``multiple_outputs`` needs a dict with string keys (or None)."""
    if not task.multiple_outputs or value is None:
        return
    if not isinstance(value, dict):
        raise TypeError(f"task {task.task_id!r} has multiple_outputs=True but returned "
                        f"{type(value).__name__}, not a dict")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise TypeError(f"task {task.task_id!r} returned a dict with non-string keys {bad!r}; "
                        "multiple_outputs needs string keys")


def _branch_ids(task: Any, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    ids = frozenset([value] if isinstance(value, str) else value)
    downstream = task.downstream_task_ids
    invalid = [i for i in ids if i not in downstream
               and not any(d.startswith(i + ".") for d in downstream)]
    if invalid:
        raise ValueError(
            f"branch task {task.task_id!r} returned {sorted(invalid)}, which are not its "
            f"direct downstream tasks ({sorted(downstream)})"
        )
    return ids


def _call_all(callbacks: list, context: dict[str, Any]) -> None:
    for callback in callbacks or ():
        try:
            callback(context)
        except Exception:  # a broken callback must not change the task's outcome
            print(f"Callback {getattr(callback, '__name__', callback)!r} failed:")
            traceback.print_exc()


# -- without running ------------------------------------------------------------------
def _finish_without_running(spec: NodeSpec, key: str | None, worker: str | None, state: TI,
                            error: str | None, try_number: int,
                            skip_descendants: bool = False) -> Outcome:
    outcome = Outcome(task_id=spec.task.task_id, map_index=spec.map_index, state=state,
                      skip_descendants=skip_descendants)
    # A resumed run must still skip everything below a short-circuit.
    kept = _keep(spec, outcome) if skip_descendants else None
    report = _report(spec, key, worker, try_number, END, state, end=time.time(), error=error,
                     result=kept)
    if _emit_end(spec.topic, report) is not None:
        return Outcome(task_id=spec.task.task_id, map_index=spec.map_index, state=TI.FAILED)
    return outcome


def _unexpandable(spec: NodeSpec, key: str | None, worker: str | None,
                  outcomes: dict[str, Any]) -> Outcome:
    """A mapped task whose trigger rule says run but that has nothing to expand over."""
    sources = {ref.task_id for ref in spec.task.upstream_refs()}
    missing = [t for t in sorted(sources) if any(o.state is not TI.SUCCESS for o in
                                                 _each({t: outcomes[t]}))]
    if not missing:
        return _finish_without_running(spec, key, worker, TI.SKIPPED, None, 0)
    error = f"cannot expand: upstream task(s) {missing} returned no value to map over"
    return _finish_without_running(spec, key, worker, TI.FAILED, error, 0)


# -- reporting ------------------------------------------------------------------------
class ReportFailed(Exception):
    """Not even a minimal end report could reach the loop; the loop records the crash."""


def _report(spec: NodeSpec, key: str | None, worker: str | None, try_number: int, kind: str,
            state: TI, **details: Any) -> Report:
    if details.get("error") is not None:
        details["error"] = redact(details["error"])
    return Report(kind=kind, key=key, dag_id=spec.run.dag_id, run_id=spec.run.run_id,
                  task_id=spec.task.task_id, map_index=spec.map_index, try_number=try_number,
                  state=state.value, host=_HOSTNAME, worker=worker, **details)


def _emit(topic: str, report: Report | dict[str, Any]) -> None:
    """Send an end report to the loop (a few milliseconds later, with its worker's
    others: :class:`_EndReports`); outside a Dask worker there is no loop to tell."""
    worker = _worker()
    if worker is not None:
        _end_reports.send(worker, topic,
                          report.to_wire() if isinstance(report, Report) else report)


class _EndReports:
    """End reports gathered on a worker for ``END_REPORT_BATCH`` seconds, sent as one event.

    Each event is a message through the Dask scheduler to the loop, handled
    there and in the loop's process one at a time; a wide run of short tasks
    ends hundreds of them a second, and one message per report cost more than
    the tasks (docs/performance.md). Batched, the loop hears of an end a few
    milliseconds later. Whether a report can travel is checked at once, in the
    task's thread, so that one which cannot still fails its own attempt
    (``_emit_end``). A held start report (:class:`_HeldStarts`) is sent before
    its end report is queued, so it still arrives first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[int, tuple[Any, list[tuple[str, dict[str, Any]]]]] = {}

    def send(self, worker: Any, topic: str, wire: dict[str, Any]) -> None:
        if not travels(wire):
            raise TypeError(f"the report holds a value Dask's event stream cannot carry: "
                            f"{_unplain_fields(wire)}")
        with self._lock:
            queued = self._queued.get(id(worker))
            if queued is not None:
                queued[1].append((topic, wire))
                return
            self._queued[id(worker)] = (worker, [(topic, wire)])
        worker.loop.add_callback(worker.loop.call_later, END_REPORT_BATCH, self._flush,
                                 id(worker))

    def _flush(self, ident: int) -> None:
        with self._lock:
            worker, queued = self._queued.pop(ident)
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for topic, wire in queued:
            by_topic.setdefault(topic, []).append(wire)
        for topic, wires in by_topic.items():
            try:
                worker.log_event(topic, wires[0] if len(wires) == 1 else {"batch": wires})
            except Exception:  # the worker is closing: the loop's stall check recovers them
                logging.getLogger("daskflow.execution").warning(
                    "could not send %d task reports", len(wires), exc_info=True)


#: Seconds a worker gathers end reports before it sends them as one event.
END_REPORT_BATCH = 0.005
_end_reports = _EndReports()


def _unplain_fields(wire: dict[str, Any]) -> str:
    return ", ".join(f"{k} ({type(v).__name__})" for k, v in wire.items() if not travels(v))


def _emit_start(topic: str, report: Report, delay: float = 0.0) -> int | None:
    """Send the start report now, or hold it ``delay`` seconds; returns what to drop.

    The start report only shows the task running: if it cannot go, the end one tells.
    """
    worker = _worker()
    if worker is None:
        return None
    try:
        wire = report.to_wire()
        if delay > 0:
            return _held_starts.hold(worker, topic, wire, delay)
        worker.log_event(topic, wire)
    except Exception:  # e.g. not serializable; the end report says what happened
        pass
    return None


class _HeldStarts:
    """Start reports that wait on the worker until their task has run a little while.

    A start report is a message through the Dask scheduler to the loop and a
    ``running`` row in the store; for a task that ends within milliseconds
    nobody sees that state, and on a wide DAG of short tasks the reports cost
    more than the tasks (docs/performance.md). So each one waits
    ``start_report_delay`` seconds on the worker's event loop and is dropped if
    the attempt's end comes first. The price: the scheduler plugin marks a key
    as started (one crash, one try; ``cluster_plugins.py``) only once its
    report went, so a worker that dies within the delay makes Dask run the
    task elsewhere, as if it had not started.

    The report is sent under the lock that :meth:`drop` takes, so an end report
    never overtakes its start report.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, tuple[Any, str, dict[str, Any]]] = {}
        self._count = 0

    def hold(self, worker: Any, topic: str, wire: dict[str, Any], delay: float) -> int:
        with self._lock:
            self._count += 1
            ident = self._count
            self._held[ident] = (worker, topic, wire)
        worker.loop.add_callback(worker.loop.call_later, delay, self._send, ident)
        return ident

    def drop(self, ident: int | None) -> None:
        if ident is not None:
            with self._lock:
                self._held.pop(ident, None)

    def _send(self, ident: int) -> None:
        with self._lock:
            held = self._held.pop(ident, None)
            if held is None:
                return
            worker, topic, wire = held
            try:
                worker.log_event(topic, wire)
            except Exception:  # the worker is closing, or the report cannot travel
                pass


_held_starts = _HeldStarts()


def _emit_end(topic: str, report: Report) -> str | None:
    """Send the end report; if it cannot be sent, fail the attempt with a plain report.

    Returns the problem (``None`` when the report went as it was). A report that
    cannot travel (a value Dask's event stream cannot serialize) ends the task
    ``failed`` once, never in a loop of re-runs.
    """
    try:
        _emit(topic, report)
        return None
    except Exception as exc:  # whatever stopped it, the loop must still hear of the end
        problem = (f"daskflow could not report the end of task {report.task_id!r} to the "
                   f"scheduler loop: {describe_error(exc)}")
    wire = report.to_wire()
    fallback = {name: _plain(wire.get(name)) for name in
                ("key", "dag_id", "run_id", "task_id", "map_index", "try", "host", "worker",
                 "start", "end")}
    fallback.update(kind=END, state=TI.FAILED.value, error=problem,
                    log=f"{_plain(report.log) or ''}\nERROR: {problem}\n")
    try:
        _emit(topic, fallback)
    except Exception as exc:
        raise ReportFailed(f"{problem}; a plain report failed too: {describe_error(exc)}"
                           ) from None
    return problem


def _plain(value: Any) -> Any:
    """``value`` made of types Dask's event stream always carries."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (int, float)):
        return float(value) if isinstance(value, float) else int(value)
    return repr(value)


def _rendered_display(rendered: dict[str, Any] | None) -> dict[str, str]:
    """Display text of each rendered field; under a sensitive name (a field, a key) ``***``."""
    return {k: display(redact_value(v, k)) for k, v in (rendered or {}).items()}


def _xcom_display(outcome: Outcome, task: Any) -> dict[str, str]:
    """Display copies of the XComs, secrets hidden as in :func:`_rendered_display`."""
    shown = {k: display(redact_value(v, k)) for k, v in outcome.xcoms.items()}
    # As in Airflow, a task that returns None pushes no return_value XCom.
    if task.do_xcom_push and outcome.value is not None:
        shown["return_value"] = display(redact_value(outcome.value))
    return shown


def _lengths(outcome: Outcome, keys: tuple[str, ...]) -> dict[str, int | None]:
    lengths: dict[str, int | None] = {}
    for key in keys:
        value = outcome.xcom(key)
        lengths[key] = len(value) if isinstance(value, (list, tuple, dict)) else None
    return lengths


def _worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def _whereabouts() -> tuple[str | None, str | None, dict[str, Any]]:
    """This worker's address, the running key, and the key's current annotations."""
    worker = _worker()
    if worker is None:
        return None, None, {}
    key = worker.get_current_task()
    state = worker.state.tasks.get(key)
    annotations = (state.annotations or {}) if state is not None else {}
    return worker.address, key, annotations

