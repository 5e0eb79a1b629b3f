"""Triggers: the asynchronous waits behind deferrable operators and sensors.

A task that calls :meth:`~daskflow.models.baseoperator.BaseOperator.defer`
hands a trigger to the loop and frees its worker thread; the loop runs the
trigger's ``run()`` on an event loop of its own (``execution/triggerer.py``)
and the task resumes on a worker with the event it yields.
"""

from daskflow.triggers.base import (
    BaseTrigger,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)
from daskflow.triggers.file import FileTrigger
from daskflow.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger

__all__ = ["BaseTrigger", "DateTimeTrigger", "FileTrigger", "TaskFailedEvent",
           "TaskSkippedEvent", "TaskSuccessEvent", "TimeDeltaTrigger", "TriggerEvent"]
