"""What a trigger is: an async generator of events, and how it is written down.

A trigger must survive a loop restart, so it is stored as its class path and
keyword arguments (:meth:`BaseTrigger.serialize`, as in Airflow) and built
again from them (:func:`trigger_from`). Its ``run()`` yields
:class:`TriggerEvent`: the first event resumes the task with the event's
payload (``execute_complete(context, event=payload)``). A
:class:`TaskSuccessEvent`, :class:`TaskFailedEvent` or
:class:`TaskSkippedEvent` ends the task without running it again.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from daskflow.exceptions import DaskflowError


@dataclass(frozen=True)
class TriggerEvent:
    """What a trigger yields; ``payload`` reaches the resumed task as ``event``."""

    payload: Any = None


@dataclass(frozen=True)
class TaskSuccessEvent(TriggerEvent):
    """Ends the deferred task ``success`` from the trigger, without resuming it."""


@dataclass(frozen=True)
class TaskFailedEvent(TriggerEvent):
    """Ends the deferred task ``failed`` from the trigger (its retries apply)."""


@dataclass(frozen=True)
class TaskSkippedEvent(TriggerEvent):
    """Ends the deferred task ``skipped`` from the trigger."""


#: The state each ending event gives its task.
ENDING_STATES = {TaskSuccessEvent: "success", TaskFailedEvent: "failed",
                 TaskSkippedEvent: "skipped"}


class BaseTrigger:
    """Subclasses implement :meth:`run` and :meth:`serialize`.

    ``run`` is a coroutine generator running on the loop process's event loop:
    it must never block (use ``await asyncio.sleep``, ``asyncio.to_thread``
    for blocking calls), or it delays every other trigger of that loop.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.trigger_id: str | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__} must implement serialize()")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")
        yield TriggerEvent()  # pragma: no cover - makes this an async generator

    async def cleanup(self) -> None:
        """Called when the trigger stops (fired, cancelled or failed)."""

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        return f"<{classpath} {kwargs}>"


class TriggerError(DaskflowError):
    """A stored trigger cannot be built again (its class cannot be imported)."""


def trigger_from(classpath: str, kwargs: dict[str, Any]) -> BaseTrigger:
    """The trigger a :meth:`BaseTrigger.serialize` result describes."""
    module_name, _, name = classpath.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise TriggerError(
            f"trigger class {classpath!r} cannot be imported in the scheduler's process "
            f"({type(exc).__name__}: {exc}); a trigger must live in an installed module, "
            "not in a DAG file") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseTrigger)):
        raise TriggerError(f"{classpath!r} is not a BaseTrigger subclass")
    return cls(**kwargs)
