"""``LatestOnlyOperator``: run what follows only in the latest scheduled run.

A run counts as the latest while now lies after its data interval's start
and no later than the end of the interval after it, the window Airflow 3
uses. Outside it every direct downstream task is skipped (and what depends
on them only, by their trigger rules). Manual runs (``dags trigger``,
``dag.test``) never skip, and neither does a run whose schedule has no next
interval (``@once``, no schedule, past ``end_date``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from daskflow.models.baseoperator import BaseOperator
from daskflow.operators._branching import DagScheduleMixin
from daskflow.schedule.intervals import DataInterval


class LatestOnlyOperator(DagScheduleMixin, BaseOperator):
    """Skip the direct downstream tasks unless this is the latest scheduled run."""

    is_branch = True
    ui_color = "#e9ffdb"

    def execute(self, context: dict[str, Any]) -> list[str]:
        run = context["dag_run"]
        everything = sorted(self.downstream_task_ids)
        if run.run_type == "manual":
            print("Manually triggered run: the downstream tasks run.")
            return everything
        window = self.latest_window(run)
        if window is None:
            print("No interval follows this run's: it is the last one, the downstream tasks run.")
            return everything
        now = datetime.now(timezone.utc)
        left, right = window
        print(f"Latest-only window {left.isoformat()} .. {right.isoformat()}, "
              f"now {now.isoformat()}")
        if left < now <= right:
            print("This is the latest run: the downstream tasks run.")
            return everything
        print("Not the latest run: skipping the downstream tasks.")
        return []

    def latest_window(self, run: Any) -> tuple[datetime, datetime] | None:
        """``(left, right)``: the run is the latest while ``left < now <= right``."""
        timetable, start_date, end_date, _ = self._schedule()
        start = run.data_interval_start or run.logical_date
        end = run.data_interval_end or run.logical_date
        if timetable is None or end <= start:
            return None  # point-in-time runs are each their own latest
        following = timetable.next_run(DataInterval(start, end), start_date=start_date,
                                       end_date=end_date, catchup=True, now=end)
        if following is None:
            return None
        return start, following.data_interval.end
