"""Which runs a DAG needs now: the scheduling decision, as a pure function.

The loop gathers, per DAG, what the store knows (paused, the interval of the
latest scheduled run, how many runs are active) and asks :func:`runs_to_create`
with the current time. The answer is data; the loop turns it into rows, and
the unique (dag_id, logical_date) constraint makes a second loop asking the
same question harmless.

Runs are created only while the DAG has fewer active runs than
``max_active_runs``, one interval after another, as in Airflow: with
``catchup=True`` a DAG far behind catches up ``max_active_runs`` at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daskflow.schedule import DataInterval, RunInfo


@dataclass(frozen=True)
class DagScheduleState:
    """What the store says about one DAG, for the scheduling decision."""

    dag_id: str
    timetable: Any
    start_date: datetime | None
    end_date: datetime | None
    catchup: bool
    max_active_runs: int
    is_paused: bool = False
    last_scheduled: DataInterval | None = None
    active_runs: int = 0


def runs_to_create(state: DagScheduleState, now: datetime, limit: int = 100) -> list[RunInfo]:
    """The scheduled runs due at ``now`` (run_after <= now), oldest first."""
    if state.is_paused or not state.timetable.can_be_scheduled:
        return []
    room = min(limit, state.max_active_runs - state.active_runs)
    due: list[RunInfo] = []
    last = state.last_scheduled
    while len(due) < room:
        info = state.timetable.next_run(last, start_date=state.start_date,
                                        end_date=state.end_date, catchup=state.catchup, now=now)
        if info is None or info.run_after > now:
            break
        if last is not None and info.logical_date <= last.start:
            break
        due.append(info)
        last = info.data_interval
    return due


def next_due(state: DagScheduleState, now: datetime) -> datetime | None:
    """When this DAG's next scheduled run becomes due (for sleeping until then)."""
    if state.is_paused or not state.timetable.can_be_scheduled:
        return None
    info = state.timetable.next_run(state.last_scheduled, start_date=state.start_date,
                                    end_date=state.end_date, catchup=state.catchup, now=now)
    return None if info is None else info.run_after


def scheduled_run_id(logical_date: datetime) -> str:
    """Airflow's run id for a scheduled run: ``scheduled__<logical date ISO>``."""
    return f"scheduled__{logical_date.isoformat()}"
