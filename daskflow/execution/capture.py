"""Per-attempt capture of stdout, stderr and ``logging`` inside a worker.

A Dask worker runs several tasks at once in threads of one process, so
``sys.stdout`` cannot simply be swapped per task. Instead the worker's
streams are replaced once by proxies that write to the buffer of the
capture active in the calling context (a ``ContextVar``), and fall through to
the real stream otherwise. A root-logger handler does the same for log
records, so ``logging.info`` inside a task lands in that task's log.

A log keeps at most ``limit`` bytes (UTF-8) however they are written: one
huge ``print`` is cut like many small ones, and a cut log ends with a line
saying how much was dropped.

Registered secrets (``daskflow/secrets``) are replaced by ``***`` as text is
written, and once more when the log is read, for a secret that was registered
after it was printed or that reached the log in pieces: the log that leaves
the worker never holds one.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from daskflow.secrets.masking import redact

_install_lock = threading.Lock()
_installed = False
#: Default cap of one attempt's log (``daskflow.log-max-bytes``).
MAX_LOG_BYTES = 1_000_000


class CappedLog:
    """The text of one attempt's log, cut at ``limit`` bytes."""

    def __init__(self, limit: int = MAX_LOG_BYTES) -> None:
        self.limit = limit
        self.size = 0
        self.dropped = 0
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        written = len(text)
        text = redact(text)
        room = self.limit - self.size
        if room <= 0:
            self.dropped += len(text.encode("utf-8", "replace"))
            return written
        data = text.encode("utf-8", "replace")
        if len(data) > room:
            self.dropped += len(data) - room
            text = data[:room].decode("utf-8", "ignore")
            data = text.encode("utf-8")
        self._parts.append(text)
        self.size += len(data)
        return written

    def getvalue(self) -> str:
        text = redact("".join(self._parts))
        if self.dropped:
            text += (f"\n[log truncated: {self.dropped:,} more bytes were written than the "
                     f"{self.limit:,} kept (daskflow.log-max-bytes)]\n")
        return text


_buffer: contextvars.ContextVar[CappedLog | None] = contextvars.ContextVar(
    "daskflow_log_buffer", default=None
)


class _RoutedStream(io.TextIOBase):
    """A stream that writes to the active capture buffer, else to ``fallback``."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback

    def write(self, text: str) -> int:
        buffer = _buffer.get()
        if buffer is None:
            return self._fallback.write(text)
        return buffer.write(text)

    def flush(self) -> None:
        if _buffer.get() is None:
            self._fallback.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self._fallback, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._fallback.fileno()


class _RoutedHandler(logging.Handler):
    """Writes records of a captured task to its buffer; others go where they went before."""

    def __init__(self, previous_level: int) -> None:
        super().__init__(logging.DEBUG)
        self.previous_level = previous_level
        self.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _buffer.get()
        if buffer is not None:
            buffer.write(self.format(record) + "\n")
            return
        root = logging.getLogger()
        others = [h for h in root.handlers if h is not self]
        if not others and record.levelno >= max(self.previous_level, logging.WARNING):
            sys.__stderr__.write(self.format(record) + "\n")


class _BelowLevelFilter(logging.Filter):
    """Keeps pre-existing root handlers seeing only what they saw before."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return _buffer.get() is None and record.levelno >= self.level


def install() -> None:
    """Route this process's streams (again if replaced) and root logging through the capture."""
    global _installed
    with _install_lock:
        # Someone (pytest, click's runner, redirect_stdout) may have swapped the
        # streams since: route the new ones too.
        if not isinstance(sys.stdout, _RoutedStream):
            sys.stdout = _RoutedStream(sys.stdout)
        if not isinstance(sys.stderr, _RoutedStream):
            sys.stderr = _RoutedStream(sys.stderr)
        if _installed:
            return
        root = logging.getLogger()
        previous = root.level
        if previous > logging.INFO or previous == logging.NOTSET:
            for handler in root.handlers:
                handler.addFilter(_BelowLevelFilter(previous or logging.WARNING))
            root.setLevel(logging.INFO)
        root.addHandler(_RoutedHandler(previous or logging.WARNING))
        _installed = True


@contextmanager
def capture(limit: int = MAX_LOG_BYTES) -> Iterator[CappedLog]:
    """Collect what the current context prints or logs into a fresh log of ``limit`` bytes."""
    install()
    buffer = CappedLog(limit)
    token = _buffer.set(buffer)
    try:
        yield buffer
    finally:
        _buffer.reset(token)


class _RedactingStream(io.TextIOBase):
    """Writes to ``target`` with registered secrets replaced by ``***``."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    @property
    def encoding(self) -> str:
        return getattr(self._target, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._target.fileno()


@contextmanager
def redacting_streams() -> Iterator[None]:
    """Hide registered secrets in what this process prints to stdout and stderr meanwhile.

    For ``daskflow tasks test``, whose task prints straight to the terminal.
    Each write is redacted on its own: a secret printed in pieces is not seen.
    """
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RedactingStream(saved[0]), _RedactingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
