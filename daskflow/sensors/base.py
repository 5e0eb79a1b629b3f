"""Sensors: tasks that wait until something outside is true.

A sensor calls :meth:`BaseSensorOperator.poke` until it returns true (or a
:class:`PokeReturnValue` that is done), every ``poke_interval`` seconds, for
at most ``timeout`` seconds counted from its first poke. How it waits between
pokes is its ``mode``:

- ``"poke"`` (the default, as in Airflow): it sleeps inside the task, holding
  its Dask worker thread the whole time;
- ``"reschedule"``: after a negative poke the attempt ends
  ``up_for_reschedule`` and holds nothing; the loop keeps the time of the
  next poke in the store and runs the same try again then. The first poke's
  time travels with the key (and is the task instance's start date in the
  store), so the timeout counts across reschedules and loop restarts.

A sensor that supports it also takes ``deferrable=True`` (the ``...Async``
classes are the same): it checks once and, if not satisfied, defers to a
trigger that waits in the scheduler's process, holding neither a worker
thread nor a Dask key in ``processing``; the task shows ``deferred`` and the
same try resumes on a worker when the trigger fires.

On timeout the sensor fails without retrying (``SensorTimeout``), or ends
``skipped`` with ``soft_fail=True``. With ``exponential_backoff`` the wait
doubles after each negative poke, up to ``max_wait``. The defaults are
Airflow's: poke every 60 s, time out after 7 days.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from daskflow.exceptions import (
    DagDefinitionError,
    SensorTimeout,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskReschedule,
    TaskSkipped,
)
from daskflow.models.baseoperator import BaseOperator

MODES = ("poke", "reschedule")
#: Airflow's default sensor timeout: a week.
DEFAULT_TIMEOUT = 60 * 60 * 24 * 7


@dataclass(frozen=True)
class PokeReturnValue:
    """A poke's answer with a value: ``is_done``, and the XCom the sensor returns when done."""

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return self.is_done


class BaseSensorOperator(BaseOperator):
    """Waits for :meth:`poke` to be true (see the module docstring)."""

    ui_color = "#e6f1f2"
    #: Whether this sensor can wait on a trigger (``deferrable=True``).
    supports_deferral = False

    def __init__(self, *, poke_interval: timedelta | float = 60,
                 timeout: timedelta | float = DEFAULT_TIMEOUT, soft_fail: bool = False,
                 mode: str = "poke", exponential_backoff: bool = False,
                 max_wait: timedelta | float | None = None, deferrable: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if deferrable and not self.supports_deferral:
            raise DagDefinitionError(
                f"task {self.task_id!r}: {type(self).__name__} cannot be deferrable (its check "
                "is your own code, which never runs in the scheduler's process); "
                "mode='reschedule' waits without holding a worker thread too")
        self.deferrable = bool(deferrable)
        self.poke_interval = _seconds(poke_interval, "poke_interval", self)
        self.timeout = _seconds(timeout, "timeout", self)
        self.max_wait = None if max_wait is None else _seconds(max_wait, "max_wait", self)
        if mode not in MODES:
            raise DagDefinitionError(
                f"task {self.task_id!r}: mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.soft_fail = bool(soft_fail)
        self.exponential_backoff = bool(exponential_backoff)
        #: Set by the node in reschedule mode: the first poke's time and the pokes so far.
        self.first_poke: float | None = None
        self.pokes = 0

    @property
    def reschedule(self) -> bool:
        return self.mode == "reschedule"

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        raise NotImplementedError(f"{type(self).__name__} must implement poke()")

    def execute(self, context: dict[str, Any]) -> Any:
        started = self.first_poke if self.first_poke is not None else time.time()
        pokes = self.pokes
        while True:
            answer = self.poke(context)
            pokes += 1
            if answer:
                return answer.xcom_value if isinstance(answer, PokeReturnValue) else None
            now = time.time()
            waited = now - started
            if waited >= self.timeout:
                message = (f"sensor {self.task_id!r} timed out after {waited:.1f}s "
                           f"(timeout {self.timeout:g}s)")
                if self.soft_fail:
                    raise TaskSkipped(message)
                raise SensorTimeout(message)
            wait = min(self.next_wait(pokes), self.timeout - waited)
            if self.reschedule:
                raise TaskReschedule(now + wait, started, pokes)
            time.sleep(wait)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None,
                         context: dict[str, Any]) -> Any:
        """As for any task; a deferral that timed out is the sensor's timeout (no retry),
        and with ``soft_fail`` a timeout or a failed trigger ends the task skipped."""
        try:
            try:
                return super().resume_execution(next_method, next_kwargs, context)
            except TaskDeferralTimeout as exc:
                raise SensorTimeout(f"sensor {self.task_id!r} timed out: {exc}") from None
        except (SensorTimeout, TaskDeferralError) as exc:
            if self.soft_fail:
                raise TaskSkipped(str(exc)) from None
            raise

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> Any:
        """Where a deferred sensor resumes: its trigger fired, so it is satisfied."""
        return None

    def next_wait(self, pokes: int) -> float:
        """Seconds to wait after the ``pokes``-th negative poke."""
        wait = self.poke_interval
        if self.exponential_backoff:
            wait = self.poke_interval * 2 ** max(pokes - 1, 0)
        if self.max_wait is not None:
            wait = min(wait, self.max_wait)
        return max(wait, 0.0)


def _seconds(value: timedelta | float, name: str, task: Any) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise DagDefinitionError(f"task {task.task_id!r}: {name} must be a non-negative "
                                 f"number of seconds or a timedelta, got {value!r}")
    return float(seconds)
