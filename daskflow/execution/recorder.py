"""Batches state writes so a run of 1,000 tasks commits a few times, not 3,000.

The loop calls :meth:`Recorder.report` for every report a node sends and
:meth:`Recorder.flush` on its tick; a flush writes every pending change in
one transaction (``Store.apply_updates``). Later changes to the same task
instance are merged before they are written.

A batch leaves memory only once the transaction that wrote it committed: if
the store is unavailable (and stays so past its retries) the flush raises
and everything stays queued. With an ``owner``, writes are fenced: only the
runs the owner still drives with the fence it claimed them with are written
(``store/fencing.py``); the others are dropped and reported to ``on_lost``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from daskflow.execution.report import Report
from daskflow.store.records import AttemptUpdate, TaskUpdate, XComUpdate


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


class Recorder:
    """Collects task-instance changes and writes them in batches."""

    def __init__(self, store: Any, interval: float = 0.25, max_batch: int = 2000, *,
                 owner: str | None = None,
                 fences: Callable[[], dict[tuple[str, str], int]] | None = None,
                 on_lost: Callable[[set[tuple[str, str]]], None] | None = None) -> None:
        self.store = store
        self.interval = interval
        self.max_batch = max_batch
        self.owner = owner
        self.fences = fences
        self.on_lost = on_lost
        self._tasks: dict[tuple, dict[str, Any]] = {}
        self._attempts: list[AttemptUpdate] = []
        self._xcoms: list[XComUpdate] = []
        self._last_flush = time.monotonic()
        self.flushes = 0

    def task(self, dag_id: str, run_id: str, task_id: str, map_index: int, **fields: Any
             ) -> None:
        """Queue a change of one task instance (later changes win field by field)."""
        ti = (dag_id, run_id, task_id, map_index)
        pending = self._tasks.setdefault(ti, {})
        pending.update({k: v for k, v in fields.items() if v is not None})

    def report(self, report: Report, operator: str | None = None) -> None:
        """Queue what a node's report says."""
        ids = (report.dag_id, report.run_id, report.task_id, report.map_index)
        start, end, queued = _dt(report.start), _dt(report.end), _dt(report.queued)
        duration = report.duration if start and end else None
        try_number = report.try_number or None
        self.task(*ids, state=report.state, try_number=try_number, start_date=start,
                  end_date=end, duration=duration, hostname=report.host,
                  worker=report.worker, rendered_fields=report.rendered or None,
                  operator=operator, result_ref=report.result, queued_at=queued,
                  map_lengths=report.lens or None)
        if report.ended and report.try_number:
            self._attempts.append(AttemptUpdate(
                *ids, try_number=report.try_number, state=report.state, start_date=start,
                end_date=end, duration=duration, hostname=report.host,
                worker=report.worker, error=report.error, log=report.log,
                loop_id=self.owner, queued_date=queued))
        for key, value in (report.xcom or {}).items():
            self._xcoms.append(XComUpdate(dag_id=ids[0], run_id=ids[1], task_id=ids[2],
                                          map_index=ids[3], key=key, value=value))

    def pending(self) -> int:
        return len(self._tasks) + len(self._attempts) + len(self._xcoms)

    def maybe_flush(self) -> None:
        due = time.monotonic() - self._last_flush >= self.interval
        if self.pending() and (due or self.pending() >= self.max_batch):
            self.flush()

    def flush(self) -> None:
        """Write everything queued in one transaction; keep it queued if that fails."""
        self._last_flush = time.monotonic()
        if not self.pending():
            return
        updates = [TaskUpdate(*ti, **fields) for ti, fields in self._tasks.items()]
        fenced: dict[str, Any] = {}
        if self.owner is not None:
            fenced = {"owner": self.owner, "fences": self.fences() if self.fences else {}}
        lost = self.store.apply_updates(task_updates=updates, attempts=self._attempts,
                                        xcoms=self._xcoms, **fenced)
        self._tasks, self._attempts, self._xcoms = {}, [], []
        self.flushes += 1
        if lost and self.on_lost is not None:
            self.on_lost(lost)
