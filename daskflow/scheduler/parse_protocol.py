"""The messages between the scheduler (or CLI) and a DAG-parsing child process.

Each direction is a pipe of its own, opened only for this: the child's
stdin is ``/dev/null`` and its stdout and stderr are one more pipe the
parent copies to its own stderr, so nothing a DAG file reads or prints can
touch a message. A message is an 8-byte big-endian length followed by that
many bytes of pickle.

The parent sends requests, one at a time::

    ("file", path, root, safe_mode)        import the DAG file at ``path``
    ("source", fileloc, source, dag_id)    build a stored version of a file

and the child answers each with two messages::

    ("start", key)                         about to execute the file's code
    ("done", key, reply)                   finished, ``reply`` a dict of plain values

where ``key`` is the path (or fileloc) of the request. If the child dies
after ``start`` and before ``done``, that file killed it. The DAGs inside a
reply travel as one more pickle (``bytes``), loaded only once the message
itself has been read; envelopes contain only builtin types, so they are
loaded with an unpickler that refuses any class or function (a child that
wrote garbage cannot make the parent import or call anything by it).
"""

from __future__ import annotations

import io
import os
import pickle
import select
import time
from typing import Any

HEADER_BYTES = 8
#: A message longer than this is a broken child, not a DAG (the DAGs of one file).
MAX_MESSAGE_BYTES = 4 * 2**30


class ProtocolError(Exception):
    """The other side wrote something that is not a message of this protocol."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise ProtocolError(f"a parse message may not refer to {module}.{name}")


def encode(message: Any) -> bytes:
    """``message`` framed: length, then pickle."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(HEADER_BYTES, "big") + body


def decode(body: bytes) -> Any:
    """A message body, loaded with no class or function allowed."""
    try:
        return _PlainUnpickler(io.BytesIO(body)).load()
    except ProtocolError:
        raise
    except Exception as exc:  # any malformed pickle
        raise ProtocolError(f"unreadable message ({type(exc).__name__}: {exc})") from None


def write_message(fd: int, message: Any, deadline: float | None = None) -> None:
    """Write one message to ``fd``; ``TimeoutError`` if the reader does not take it in time.

    With a ``deadline`` (monotonic), ``fd`` must be non-blocking: then a child
    that stopped reading cannot hang the parent.
    """
    data = memoryview(encode(message))
    while data:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                raise TimeoutError("the other side stopped reading")
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:  # a non-blocking pipe with less room than select promised
            continue


class MessageReader:
    """Reads whole messages from a pipe, waiting no longer than a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self.closed = False

    def read(self, deadline: float | None = None, poll: float | None = None) -> Any:
        """The next message; ``None`` at end of file (the writer is gone).

        ``TimeoutError`` once ``deadline`` (monotonic) has passed, or when
        ``poll`` seconds passed with no complete message (so a caller can look
        at other things and call again: what was read so far is kept).
        """
        give_up = None if poll is None else time.monotonic() + poll
        while True:
            message = self._take()
            if message is not None:
                return message[0]
            if self.closed:
                if self._buffer:
                    raise ProtocolError("the pipe closed in the middle of a message")
                return None
            limits = [t for t in (deadline, give_up) if t is not None]
            wait = None if not limits else min(limits) - time.monotonic()
            if wait is not None and (wait <= 0 or not select.select([self.fd], [], [], wait)[0]):
                raise TimeoutError("no message in time")
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.closed = True
            self._buffer += chunk

    def _take(self) -> tuple[Any] | None:
        if len(self._buffer) < HEADER_BYTES:
            return None
        size = int.from_bytes(self._buffer[:HEADER_BYTES], "big")
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"a message claims to be {size} bytes long")
        end = HEADER_BYTES + size
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[HEADER_BYTES:end])
        del self._buffer[:end]
        return (decode(body),)
