"""The live progress line of ``dags test`` and ``dags backfill``: counts by state, on stderr.

On a terminal the line is rewritten in place (carriage return), so a long
run shows one changing line. Anywhere else (a CI log, a file) rewriting
would leave one garbled line, so a plain line is written instead, only when
the counts changed and at most every ``every`` seconds, plus the final
counts. The clock is an argument so this policy is tested without sleeping.

>>> import io
>>> out = io.StringIO()
>>> line = ProgressLine(out, tty=False)
>>> line({"running": 1, "success": 2, "queued": 3})
>>> line.close()
>>> out.getvalue()
'tasks: 2 success, 1 running, 3 queued\\n'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import IO, Any

#: The order states are listed in: finished first, then what is still to come.
STATE_ORDER = ("success", "failed", "upstream_failed", "skipped", "removed", "running",
               "up_for_retry", "up_for_reschedule", "deferred", "queued", "scheduled", "none")


def describe(counts: Mapping[str, int]) -> str:
    """``tasks: 3 success, 1 running`` (states in :data:`STATE_ORDER`, unknown ones last).

    >>> describe({"queued": 1, "weird": 2, "success": 3})
    'tasks: 3 success, 1 queued, 2 weird'
    """
    rank = {state: i for i, state in enumerate(STATE_ORDER)}
    states = sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))
    parts = [f"{counts[s]} {s}" for s in states if counts[s]]
    return "tasks: " + (", ".join(parts) if parts else "none yet")


def run_bar(counts: Mapping[str, int], total: int, width: int = 20) -> str:
    """``[#####---------------] 1/4 runs done (1 success)``: runs of a backfill.

    >>> run_bar({"success": 2, "failed": 1, "running": 1}, 4, width=8)
    '[######--] 3/4 runs done (2 success, 1 failed)'
    """
    done = counts.get("success", 0) + counts.get("failed", 0)
    filled = width * done // total if total else width
    finished = ", ".join(f"{counts[s]} {s}" for s in ("success", "failed") if counts.get(s))
    return (f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} runs done"
            + (f" ({finished})" if finished else ""))


class ProgressLine:
    """A ``progress`` callback (e.g. for ``run_once``) writing ``text(counts)`` lines.

    ``text`` turns the counts into the line; :func:`describe` by default.
    """

    def __init__(self, stream: IO[str], *, tty: bool | None = None, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 text: Callable[[Mapping[str, int]], str] = describe) -> None:
        self.stream = stream
        self.text = text
        self.tty = _isatty(stream) if tty is None else tty
        self.every = every
        self.clock = clock
        self._shown = ""
        self._width = 0
        self._last_time: float | None = None
        self._latest = ""

    def __call__(self, counts: Mapping[str, int]) -> None:
        text = self._latest = self.text(counts)
        if text == self._shown:
            return
        if self.tty:
            self._rewrite(text)
            return
        now = self.clock()
        if self._last_time is None or now - self._last_time >= self.every:
            self._write_line(text)
            self._last_time = now

    def close(self) -> None:
        """End the line on a terminal; elsewhere write the final counts if not yet shown."""
        if self.tty:
            if self._shown:
                self.stream.write("\n")
                self.stream.flush()
        elif self._latest != self._shown:
            self._write_line(self._latest)

    def _rewrite(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(text))
        self._shown = text

    def _write_line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = text


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
