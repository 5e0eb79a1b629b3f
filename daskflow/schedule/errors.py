"""The one error type of ``daskflow.schedule``.

A bad ``schedule=`` argument is a mistake in a DAG file, so the message has to
say which value was wrong, which forms are accepted and, when the caller knows
it, which DAG it belongs to. ``ScheduleError`` subclasses ``ValueError`` so code
that already guards DAG construction with ``except ValueError`` keeps working.
"""

from __future__ import annotations


class ScheduleError(ValueError):
    """A schedule, time zone or start/end date that daskflow cannot use.

    >>> str(ScheduleError("end_date is before start_date", dag_id="etl"))
    "DAG 'etl': end_date is before start_date"
    """

    def __init__(self, reason: str, *, dag_id: str | None = None) -> None:
        self.reason = reason
        self.dag_id = dag_id
        super().__init__(reason if dag_id is None else f"DAG {dag_id!r}: {reason}")

    def for_dag(self, dag_id: str | None) -> ScheduleError:
        """The same error, naming ``dag_id`` (unchanged when ``dag_id`` is None)."""
        if dag_id is None:
            return self
        return ScheduleError(self.reason, dag_id=dag_id)
