"""The live progress line of ``daskflow dags test``: task counts by state, on stderr.

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
               "up_for_retry", "up_for_reschedule", "queued", "scheduled", "none")


def describe(counts: Mapping[str, int]) -> str:
    """``tasks: 3 success, 1 running`` (states in :data:`STATE_ORDER`, unknown ones last).

    >>> describe({"queued": 1, "weird": 2, "success": 3})
    'tasks: 3 success, 1 queued, 2 weird'
    """
    rank = {state: i for i, state in enumerate(STATE_ORDER)}
    states = sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))
    parts = [f"{counts[s]} {s}" for s in states if counts[s]]
    return "tasks: " + (", ".join(parts) if parts else "none yet")


class ProgressLine:
    """A ``progress`` callback for ``run_once`` that writes :func:`describe` lines."""

    def __init__(self, stream: IO[str], *, tty: bool | None = None, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = _isatty(stream) if tty is None else tty
        self.every = every
        self.clock = clock
        self._shown = ""
        self._width = 0
        self._last_time: float | None = None
        self._latest = ""

    def __call__(self, counts: Mapping[str, int]) -> None:
        text = self._latest = describe(counts)
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
