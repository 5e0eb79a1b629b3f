"""The thin shell that feeds runs what the cluster says, and reads the clock.

Nodes report over Dask's event stream (``Worker.log_event`` ->
``Client.subscribe_topic``) into one queue. :meth:`Driver.step` waits on that
queue until the next timer, hands everything to the right
:class:`RunExecution`, looks for keys that erred, fires due retries, and
flushes the recorder in batches.

Erred keys are found by reading the futures' statuses, not by a done
callback on each future: a callback is a coroutine on the client's event
loop and a hop through a thread pool per key, and with the embedded
LocalCluster that loop is also the Dask scheduler's, so a thousand of them
slowed every wide run down (docs/performance.md). The statuses are read at
most every :data:`POLL_INTERVAL` seconds, and every :data:`ERROR_POLL_INTERVAL`
while a due retry waits for Dask to have its key erred. Deferred tasks' triggers run on
the driver's :class:`Triggerer` and land in the same queue when they fire. The runner
(``execution/runner.py``) calls it between its ticks.
"""

from __future__ import annotations

import queue
import secrets
import time
from typing import Any

from daskflow.execution.cluster_plugins import REPORT_TOPIC_PREFIX
from daskflow.execution.report import Report, reports_in
from daskflow.execution.run import RunExecution
from daskflow.execution.triggerer import Triggerer

#: Seconds between two readings of the watched futures' statuses.
POLL_INTERVAL = 0.05
#: The same while a retry is due and waits only for its key to err in Dask.
ERROR_POLL_INTERVAL = 0.01


class Driver:
    """Routes events from one Dask client to the runs it executes."""

    def __init__(self, client: Any, recorder: Any, topic: str | None = None) -> None:
        self.client = client
        self.recorder = recorder
        self.topic = topic or f"{REPORT_TOPIC_PREFIX}{secrets.token_hex(6)}"
        self.runs: dict[tuple[str, str], RunExecution] = {}
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        #: Futures not known to have finished: key -> (its run, the future).
        self._watched: dict[str, tuple[RunExecution, Any]] = {}
        self._polled = 0.0
        self.triggerer = Triggerer(self._on_trigger)
        client.subscribe_topic(self.topic, self._on_event)

    def resubscribe(self) -> None:
        """Subscribe again: a restarted Dask scheduler has forgotten the subscription."""
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # not subscribed any more; the point is to subscribe below
            pass
        self.client.subscribe_topic(self.topic, self._on_event)

    def close(self, flush: bool = True) -> None:
        self.triggerer.close()
        if flush:
            self.recorder.flush()
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # the client may already be closing; nothing left to stop
            pass

    # -- runs -----------------------------------------------------------------------
    def add(self, execution: RunExecution, hold: set[str] | None = None) -> None:
        """Start following a run and submit what it can run now (not the ``hold`` tasks)."""
        self.runs[(execution.run.dag_id, execution.run.run_id)] = execution
        execution.triggerer = self.triggerer
        execution.start(hold)
        self._watch(execution)

    def remove(self, execution: RunExecution, cancel: bool = False) -> None:
        """Stop following a run; ``cancel`` also cancels its keys on the cluster."""
        self.runs.pop((execution.run.dag_id, execution.run.run_id), None)
        for key in execution.keys:
            watched = self._watched.get(key)
            if watched is not None and watched[0] is execution:
                del self._watched[key]
        execution.stop_triggers()
        if cancel:
            execution.cancel()
        else:
            execution.release()

    def _watch(self, execution: RunExecution) -> None:
        for future in execution.take_new_futures():
            self._watched[future.key] = (execution, future)

    def _poll(self, now: float, urgent: bool) -> None:
        """Hand the runs the keys that erred or were cancelled since the last reading."""
        if now - self._polled < (ERROR_POLL_INTERVAL if urgent else POLL_INTERVAL):
            return
        self._polled = now
        done = [(key, execution, future) for key, (execution, future) in self._watched.items()
                if future.status != "pending"]
        erred = []
        for key, execution, future in done:
            del self._watched[key]
            if future.status != "finished":
                # Read now: once the key is retried the future no longer holds the error.
                erred.append((key, execution, _exception_of(future)))
        if not erred:
            return
        # A node's report reaches the queue before Dask marks its key erred: take the
        # reports that came meanwhile first, so that no report lands after its error.
        self._drain()
        for key, execution, exception in erred:
            if self.runs.get((execution.run.dag_id, execution.run.run_id)) is execution:
                execution.on_future_error(key, exception, now)
                self._watch(execution)

    # -- events ---------------------------------------------------------------------
    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        for report in reports_in(event[1]):
            self._events.put(("report", report))

    def _on_trigger(self, ident: tuple[str, str, str], kind: str, payload: Any) -> None:
        self._events.put(("trigger", (ident, kind, payload)))

    def step(self, max_wait: float = 0.25) -> None:
        """Handle what arrived (waiting up to ``max_wait`` or the next timer), fire timers."""
        now = time.time()
        timers = [t for r in self.runs.values() if (t := r.next_timer()) is not None]
        urgent = any(r.waits_for_error(now) for r in self.runs.values())
        if urgent and self._watched:
            timers.append(self._polled + ERROR_POLL_INTERVAL)
        wait = max(0.0, min([max_wait, *[t - now for t in timers]]))
        try:
            self._handle(self._events.get(timeout=wait) if wait else self._events.get_nowait())
        except queue.Empty:
            pass
        self._drain()
        now = time.time()
        self._poll(now, urgent)
        for execution in list(self.runs.values()):
            execution.fire_timers(now)
            self._watch(execution)
        self.recorder.maybe_flush()

    def _drain(self) -> None:
        """Handle every event already queued."""
        try:
            while True:
                self._handle(self._events.get_nowait())
        except queue.Empty:
            pass

    def _handle(self, item: tuple[str, Any]) -> None:
        kind, payload = item
        if kind == "report":
            execution = self.runs.get((payload.get("dag_id"), payload.get("run_id")))
            if execution is not None:
                execution.on_report(Report.from_wire(payload), time.time())
                self._watch(execution)
            return
        if kind == "trigger":
            (dag_id, run_id, key), fired, value = payload
            execution = self.runs.get((dag_id, run_id))
            if execution is not None:
                execution.on_trigger(key, fired, value, time.time())
                self._watch(execution)


def _exception_of(future: Any) -> BaseException:
    """The error a finished future holds, read without waiting on the client's event loop."""
    exception = getattr(getattr(future, "_state", None), "exception", None)
    if isinstance(exception, BaseException):
        return exception
    if future.status == "cancelled":
        from concurrent.futures import CancelledError

        return CancelledError(f"{future.key} was cancelled")
    return RuntimeError(f"the key {future.key} erred without an error (status {future.status})")
