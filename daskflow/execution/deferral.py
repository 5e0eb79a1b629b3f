"""A deferred task as plain values: what it waits on, where it resumes, until when.

The node writes this down when a task defers; it travels to the loop in the
report, rests in the store (``task_instance.deferral``) while the trigger
waits, and is all a restarted loop needs to build the trigger again. The
loop turns a fired trigger into a *resume*: the method and keyword
arguments the same try continues with, given to the node in an annotation.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from daskflow.exceptions import TaskDeferred
from daskflow.models.baseoperator import FAIL_METHOD
from daskflow.triggers.base import BaseTrigger
from daskflow.triggers.serialization import encode


def deferral_of(exc: TaskDeferred, now: float | None = None) -> dict[str, Any]:
    """The stored form of a ``defer()`` call; a ``TypeError`` says what cannot be kept."""
    if not isinstance(exc.trigger, BaseTrigger):
        raise TypeError(f"defer(trigger=...) needs a BaseTrigger, got "
                        f"{type(exc.trigger).__name__}")
    classpath, kwargs = exc.trigger.serialize()
    timeout = exc.timeout
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    now = time.time() if now is None else now
    return {"trigger": classpath, "trigger_kwargs": encode(kwargs, f"{classpath} argument"),
            "method": exc.method_name, "kwargs": encode(exc.kwargs, "defer(kwargs=...)"),
            "timeout_at": None if timeout is None else now + float(timeout)}


def resume_with_event(deferral: dict[str, Any], payload: Any, start: float | None
                      ) -> dict[str, Any]:
    """Resume in the deferral's method with the trigger's (encoded) payload as ``event``."""
    return {"method": deferral["method"],
            "kwargs": {**(deferral.get("kwargs") or {}), "event": payload}, "start": start}


def resume_with_failure(error: str, start: float | None, *, timed_out: bool = False
                        ) -> dict[str, Any]:
    """Resume only to fail: the trigger failed, or did not fire before the timeout."""
    return {"method": FAIL_METHOD, "kwargs": {"error": error, "timeout": timed_out},
            "start": start}
