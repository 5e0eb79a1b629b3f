"""Writing DAG files and driving a SchedulerLoop tick by tick, for the scheduler tests."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from daskflow.scheduler.loop import SchedulerLoop, utcnow


def write_dag(folder: Path, name: str, source: str) -> Path:
    """Write ``source`` (dedented) as ``folder/name.py``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def drive_until(loop: SchedulerLoop, condition: Callable[[], object],
                timeout: float = 60) -> None:
    """Tick the loop until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the loop did not get there in time"
        loop.tick(utcnow())
        loop.step(0.1)


def drive_for(loop: SchedulerLoop, seconds: float) -> None:
    """Tick the loop for ``seconds``, whatever happens."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        loop.tick(utcnow())
        loop.step(0.1)
