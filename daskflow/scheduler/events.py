"""What a scheduler loop tells the person running it: runs created, started, ended, and
DAG files that start or stop failing to import.

The loop and its DAG folder call these functions when each thing happens
(one call each, so the loop's code stays about scheduling). Each call makes
one line of text, logged at DEBUG on ``daskflow.scheduler.events`` and
handed to every listener: ``daskflow scheduler`` prints the lines to stdout
unless ``--quiet``. With no listener a call only formats its line. A
listener that raises is logged and never disturbs the loop.

>>> seen = []
>>> with listening(seen.append):
...     run_created("etl", "scheduled__2025-01-01T00:00:00+00:00", "scheduled")
>>> seen
['DAG etl: run scheduled__2025-01-01T00:00:00+00:00 created (scheduled)']
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger("daskflow.scheduler.events")

_listeners: list[Callable[[str], None]] = []
_lock = threading.Lock()
#: A claimed run whose start is older than its claim by more than this was started before.
_RESUMED_AFTER = timedelta(seconds=1)


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Hand every event line to ``listener`` while inside."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def _emit(line: str) -> None:
    logger.debug("%s", line)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(line)
        except Exception:  # an event must never stop the loop
            logger.exception("an event listener failed on %r", line)


# -- runs ------------------------------------------------------------------------------------
def run_created(dag_id: str, run_id: str, run_type: str) -> None:
    """The loop created a run (a scheduled one: triggers and backfills are created elsewhere)."""
    _emit(f"DAG {dag_id}: run {run_id} created ({run_type})")


def run_started(run: Any, claimed_at: datetime) -> None:
    """The loop claimed ``run`` (a store record) and starts driving it."""
    started = getattr(run, "start_date", None)
    if started is not None and claimed_at - started > _RESUMED_AFTER:
        how = f"resumed (it started {started:%Y-%m-%d %H:%M:%S} UTC)"
    else:
        how = "started"
    _emit(f"DAG {run.dag_id}: run {run.run_id} {how}")


def run_ended(dag_id: str, run_id: str, state: str, ended_at: datetime,
              reason: str | None = None, execution: Any = None) -> None:
    """A run the loop drove ended in ``state``; ``execution`` (if any) knows its start."""
    started = getattr(getattr(execution, "run", None), "start_date", None)
    took = f" after {_duration(ended_at - started)}" if started is not None else ""
    why = f": {reason}" if reason else ""
    _emit(f"DAG {dag_id}: run {run_id} ended {state}{took}{why}")


def _duration(delta: timedelta) -> str:
    """``0.4s``, ``12.0s``, ``3m05s``, ``2h01m``.

    >>> _duration(timedelta(seconds=185)), _duration(timedelta(hours=2, seconds=70))
    ('3m05s', '2h01m')
    """
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, second = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{second:02d}s"
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m"


# -- DAG files -------------------------------------------------------------------------------
def import_failed(path: str, error: str) -> None:
    """A DAG file fails to import (newly, or with another error than before)."""
    _emit(f"DAG file {path} fails to import: {_last_line(error)}")


def import_fixed(path: str) -> None:
    """A DAG file that failed to import imports again, or was removed."""
    gone = not Path(path).exists()
    _emit(f"DAG file {path} {'was removed' if gone else 'imports again'}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no error text)"
