"""Triggers that fire at a moment: the waits of the deferrable time sensors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from daskflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

#: Longest single sleep: a clock that jumps is noticed within this many seconds.
MAX_SLEEP = 60.0


class DateTimeTrigger(BaseTrigger):
    """Fires at ``moment`` (an aware datetime), with the moment as payload.

    It sleeps until the moment itself rather than polling each second, so it
    fires within milliseconds of it and costs nothing while it waits.
    """

    def __init__(self, moment: datetime, *, end_from_trigger: bool = False) -> None:
        super().__init__()
        if not isinstance(moment, datetime):
            raise TypeError(f"DateTimeTrigger expects a datetime, got {type(moment).__name__}")
        if moment.tzinfo is None:
            raise ValueError(f"DateTimeTrigger needs an aware datetime, got {moment!r}")
        self.moment = moment
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("daskflow.triggers.temporal.DateTimeTrigger",
                {"moment": self.moment, "end_from_trigger": self.end_from_trigger})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while (left := (self.moment - datetime.now(timezone.utc)).total_seconds()) > 0:
            await asyncio.sleep(min(left, MAX_SLEEP))
        yield TaskSuccessEvent() if self.end_from_trigger else TriggerEvent(self.moment)


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires ``delta`` after it is created."""

    def __init__(self, delta: timedelta, *, end_from_trigger: bool = False) -> None:
        super().__init__(datetime.now(timezone.utc) + delta, end_from_trigger=end_from_trigger)
