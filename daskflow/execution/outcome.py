"""What crosses task boundaries: outcomes (in Dask) and reports (to the loop).

A node returns an :class:`Outcome`: the task instance's final state and its
return value, which stays in Dask memory and goes to downstream nodes only
(docs/concepts.md). What the loop needs to record (states, times, the
worker, the log, a small copy of the XCom for display) travels separately as
a report (``execution/report.py``) sent over Dask's event stream, so the loop
never pulls task data back to the client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from daskflow.models.state import TaskInstanceState
from daskflow.secrets.masking import redact

TI = TaskInstanceState
XCOM_DISPLAY_CHARS = 2_000


@dataclass
class Outcome:
    """How one task instance ended, and what it hands to downstream tasks."""

    task_id: str
    map_index: int
    state: TaskInstanceState
    value: Any = None
    xcoms: dict[str, Any] = field(default_factory=dict)
    #: Branch operators: the task ids to follow (others downstream are skipped).
    followed: frozenset[str] | None = None
    #: Short-circuit with ignore_downstream_trigger_rules: skip every descendant.
    skip_descendants: bool = False
    #: Short-circuit without it: skip the direct downstream tasks only.
    skip_direct: bool = False
    #: Secrets registered while it ran (``daskflow/secrets``): downstream nodes, which
    #: may show values this one passed on, register them before they run.
    secrets: tuple[str, ...] = ()

    def xcom(self, key: str) -> Any:
        """The XCom ``key``: the return value, a pushed value, or a key of a dict returned.

        The last is more lenient than Airflow, which needs ``multiple_outputs``
        for ``task.output["key"]`` (docs/airflow-differences.md).
        """
        if key == "return_value":
            return self.value
        if key in self.xcoms:
            return self.xcoms[key]
        return self.value.get(key) if isinstance(self.value, dict) else None


class RetryAttempt(Exception):
    """Raised by a node whose task failed with retries left.

    The key errs in Dask, its dependents wait in the erred state, and the loop
    calls ``Client.retry`` once the retry delay has passed: no worker thread
    is held while waiting (docs/concepts.md).
    """

    def __init__(self, task_id: str, try_number: int, error: str) -> None:
        super().__init__(f"{task_id} try {try_number} failed and will be retried: {error}")
        self.task_id = task_id
        self.try_number = try_number
        self.error = error

    def __reduce__(self) -> tuple:
        return (RetryAttempt, (self.task_id, self.try_number, self.error))


class RescheduleAttempt(Exception):
    """Raised by a node whose sensor (``mode="reschedule"``) will poke again later.

    Like :class:`RetryAttempt` it leaves the key erred in Dask, holding no
    worker thread, until the loop's timer re-runs the same try.
    """

    def __init__(self, task_id: str, at: float) -> None:
        super().__init__(f"{task_id} pokes again at {at:.3f}")
        self.task_id = task_id
        self.at = at

    def __reduce__(self) -> tuple:
        return (RescheduleAttempt, (self.task_id, self.at))


class DeferAttempt(Exception):
    """Raised by a node whose task deferred: the key stays erred while the trigger waits.

    Like :class:`RescheduleAttempt`, nothing is held; the loop re-runs the
    key (the same try) when the trigger fires, naming where to resume.
    """

    def __init__(self, task_id: str) -> None:
        super().__init__(f"{task_id} waits on a trigger")
        self.task_id = task_id

    def __reduce__(self) -> tuple:
        return (DeferAttempt, (self.task_id,))


class NotYet(Exception):
    """Raised by a node resubmitted before its retry delay ended (the loop restarted).

    Like :class:`RetryAttempt` it leaves the key erred, without running
    anything, until the loop's timer fires and ``Client.retry`` runs it.
    """

    def __init__(self, task_id: str, until: float) -> None:
        super().__init__(f"{task_id} waits for its retry delay until {until:.3f}")
        self.task_id = task_id
        self.until = until

    def __reduce__(self) -> tuple:
        return (NotYet, (self.task_id, self.until))


def describe_error(exc: BaseException) -> str:
    """``"Type: message"`` of an exception, even one whose ``__str__`` raises.

    Registered secrets in the message are replaced by ``***``.
    """
    try:
        text = str(exc)
    except Exception as problem:  # a broken __str__ must not hide the error's type
        text = f"<str() of the exception raised {type(problem).__name__}>"
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def display(value: Any) -> str:
    """A short, JSON-safe text of a value for the store and the dashboard, secrets hidden."""
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    text = redact(text)
    return text if len(text) <= XCOM_DISPLAY_CHARS else text[:XCOM_DISPLAY_CHARS] + "..."
