"""The thin shell that feeds runs what the cluster says, and reads the clock.

Nodes report over Dask's event stream (``Worker.log_event`` ->
``Client.subscribe_topic``) and futures finish in the client's thread; both
land in one queue. :meth:`Driver.step` waits on that queue until the next
timer, hands everything to the right :class:`RunExecution`, fires due
retries, and flushes the recorder in batches. Deferred tasks' triggers run on
the driver's :class:`Triggerer` and land in the same queue when they fire. The runner
(``execution/runner.py``) calls it between its ticks.
"""

from __future__ import annotations

import queue
import secrets
import time
from typing import Any

from daskflow.execution.cluster_plugins import REPORT_TOPIC_PREFIX
from daskflow.execution.report import Report
from daskflow.execution.run import RunExecution
from daskflow.execution.triggerer import Triggerer


class Driver:
    """Routes events from one Dask client to the runs it executes."""

    def __init__(self, client: Any, recorder: Any, topic: str | None = None) -> None:
        self.client = client
        self.recorder = recorder
        self.topic = topic or f"{REPORT_TOPIC_PREFIX}{secrets.token_hex(6)}"
        self.runs: dict[tuple[str, str], RunExecution] = {}
        self._events: queue.SimpleQueue = queue.SimpleQueue()
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
        execution.stop_triggers()
        if cancel:
            execution.cancel()
        else:
            execution.release()

    def _watch(self, execution: RunExecution) -> None:
        for future in execution.take_new_futures():
            future.add_done_callback(self._on_done)

    # -- events ---------------------------------------------------------------------
    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        self._events.put(("report", event[1]))

    def _on_trigger(self, ident: tuple[str, str, str], kind: str, payload: Any) -> None:
        self._events.put(("trigger", (ident, kind, payload)))

    def _on_done(self, future: Any) -> None:
        # The error is read now: by the time the loop handles the event the key
        # may have been retried, and the future no longer holds it.
        if future.status != "finished":
            self._events.put(("erred", (future.key, _exception_of(future))))

    def step(self, max_wait: float = 0.25) -> None:
        """Handle what arrived (waiting up to ``max_wait`` or the next timer), fire timers."""
        now = time.time()
        timers = [t for r in self.runs.values() if (t := r.next_timer()) is not None]
        wait = max(0.0, min([max_wait, *[t - now for t in timers]]))
        try:
            self._handle(self._events.get(timeout=wait) if wait else self._events.get_nowait())
            while True:
                self._handle(self._events.get_nowait())
        except queue.Empty:
            pass
        now = time.time()
        for execution in list(self.runs.values()):
            execution.fire_timers(now)
            self._watch(execution)
        self.recorder.maybe_flush()

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
            return
        key, exception = payload
        for execution in self.runs.values():
            if key in execution.keys:
                execution.on_future_error(key, exception, time.time())
                break


def _exception_of(future: Any) -> BaseException:
    """The error a just-finished future holds (runs in the client's event loop: no waiting)."""
    exception = getattr(getattr(future, "_state", None), "exception", None)
    if isinstance(exception, BaseException):
        return exception
    if future.status == "cancelled":
        from concurrent.futures import CancelledError

        return CancelledError(f"{future.key} was cancelled")
    return RuntimeError(f"the key {future.key} erred without an error (status {future.status})")
