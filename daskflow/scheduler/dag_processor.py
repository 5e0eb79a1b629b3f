"""Parsing DAG files in child processes, so no DAG file can hurt the process that asked.

Importing a DAG file runs its code, and that code can do anything: call
``sys.exit()`` or ``os._exit()``, crash the interpreter in native code, sleep
forever, allocate gigabytes, leave threads and modules behind. In the
scheduler loop's process any of these would stop, stall or bloat the loop
for every DAG; in a CLI command it would change the exit code. So a file is
only ever imported in a child process (``parse_child.py``), never in the
process that wants its DAGs, and the child is never a fork of it (the loop
has Dask threads; a fork would copy their locks mid-use): it is a new Python,
``python -m daskflow.scheduler.parse_child``, in a session of its own so that
it and anything it starts can be killed as one process group.

What the parent does (``parse_files``):

- it runs up to ``daskflow.parse-processes`` children at once, each taking
  the next file from a shared list, so one slow file holds up one child and
  the other files go on in the others. It starts with one child and adds
  another while files wait and either a file has held its child for
  :data:`GROW_AFTER` seconds or many files wait: a folder of quick files
  costs one Python start-up, and a slow file delays the others by at most
  that much;
- a child parses file after file (starting Python costs about 0.3 s); every
  call of ``parse_files`` starts new children, so a helper module a DAG file
  imports is read again after it changed;
- the child announces a file before it runs the file's code; from then the
  file has ``daskflow.parse-timeout`` seconds. Past that, the parent asks the
  child for a stack dump (SIGUSR1, ``faulthandler``), kills its process group
  and records the timeout, with the stack, as the file's import error;
- if the child dies while a file is announced (an exit, a signal, the
  out-of-memory killer), that file gets an import error saying how it died,
  with what the child printed last; the remaining files go to a new child;
- a child that dies before announcing a file (it could not start, or
  something left behind by an earlier file killed it) is replaced and the
  file tried once more;
- what DAG files print goes to the child's stdout and stderr, one pipe that
  a thread of the parent copies to the parent's ``sys.stderr``; messages use
  pipes of their own (``parse_protocol.py``).

Memory: the child sets its own ``RLIMIT_DATA`` to ``daskflow.parse-memory-limit``
(see ``parse_child.py`` for why that limit and not ``RLIMIT_AS``), so an
allocation past it raises ``MemoryError``, reported as such.

The parent unpickles the DAGs it receives (``dag_pickling.py``); that runs
none of the DAG file's module-level code.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daskflow import config
from daskflow.exceptions import DaskflowError
from daskflow.scheduler import import_errors
from daskflow.scheduler.dag_pickling import loads_dags
from daskflow.scheduler.parse_protocol import MessageReader, ProtocolError, write_message

#: How long a new child may take to start and announce its first file.
STARTUP_SECONDS = 60.0
#: How often a waiting parent looks at its cancel event.
POLL_SECONDS = 0.25
#: A file busy this long in its child, with files waiting, gets them another child.
GROW_AFTER = 0.5
#: With more files than this waiting, another child starts at once.
GROW_WHEN_WAITING = 16


@dataclass(frozen=True)
class ParseLimits:
    """How long a file may take, how much memory its import may use, how many children."""

    timeout: float = 30.0
    memory: int | None = 2 * 2**30
    processes: int = 2

    @classmethod
    def from_config(cls, timeout: float | None = None) -> ParseLimits:
        """The ``daskflow.parse-timeout``, ``-memory-limit`` and ``-processes`` settings."""
        processes = config.get("parse-processes", 2)
        if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
            raise DaskflowError(f"daskflow.parse-processes must be a whole number of at least "
                                f"1, not {processes!r}; fix it in your dask config or "
                                "DASK_DASKFLOW__PARSE_PROCESSES")
        return cls(
            timeout=float(config.get("parse-timeout", 30) if timeout is None else timeout),
            memory=memory_limit(config.get("parse-memory-limit", "2GiB")),
            processes=processes)


def memory_limit(value: Any) -> int | None:
    """``daskflow.parse-memory-limit`` in bytes: a number, ``"512MiB"``-like text, or none."""
    if value in (None, "", 0, "0") or str(value).lower() in ("none", "null"):
        return None
    import dask.utils  # here, not at the top: a parse process never needs dask

    try:
        size = int(value) if isinstance(value, int | float) else dask.utils.parse_bytes(value)
    except (TypeError, ValueError):
        raise DaskflowError(f"daskflow.parse-memory-limit must be bytes or a size like "
                            f"'2GiB' (or null for none), not {value!r}") from None
    if size <= 0:
        raise DaskflowError(f"daskflow.parse-memory-limit must be positive, not {value!r}")
    return size


@dataclass
class FileParse:
    """What parsing one file gave: its DAGs and source, or its import error."""

    path: str
    dags: list[Any] = field(default_factory=list)
    source: str = ""
    error: str | None = None


class Cancelled(Exception):
    """Parsing was asked to stop (the folder is being closed)."""


def parse_files(paths: Iterable[str | Path], limits: ParseLimits, *,
                root: str | Path | None = None, safe_mode: bool = True,
                cancel: threading.Event | None = None,
                on_result: Callable[[FileParse], None] | None = None) -> dict[str, FileParse]:
    """Import each file in a child process; ``{path: FileParse}`` for every path.

    Blocks until every file is parsed (or ``cancel`` is set: then the files
    not parsed yet are missing from the result). ``on_result`` is called
    with each file's result as soon as it is there, from a parsing thread.
    """
    requests = [(str(p), ("file", str(p), str(root or ""), safe_mode)) for p in paths]
    return _run(requests, limits, cancel, on_result)


def build_version(source: str, fileloc: str, dag_id: str, limits: ParseLimits) -> FileParse:
    """Build DAG ``dag_id`` from a stored source in a child process."""
    return _run([(fileloc, ("source", fileloc, source, dag_id))], limits, None, None)[fileloc]


class _Work:
    """The requests of one ``parse_files`` call, shared by the threads that carry them out."""

    def __init__(self, requests: list[tuple[str, tuple]], limits: ParseLimits,
                 cancel: threading.Event | None,
                 on_result: Callable[[FileParse], None] | None) -> None:
        self.pending = deque((key, request, 0) for key, request in requests)
        self.results: dict[str, FileParse] = {}
        self.changed = threading.Condition()
        self.limits = limits
        self.cancel = cancel
        self.on_result = on_result
        #: When the file each thread is on was announced by its child.
        self.busy_since: dict[int, float] = {}

    def next(self) -> tuple[str, tuple, int] | None:
        with self.changed:
            if not self.pending or (self.cancel is not None and self.cancel.is_set()):
                return None
            return self.pending.popleft()

    def again(self, key: str, request: tuple, attempts: int) -> None:
        with self.changed:
            self.pending.appendleft((key, request, attempts + 1))

    def started(self) -> None:
        with self.changed:
            self.busy_since[threading.get_ident()] = time.monotonic()

    def done(self, parsed: FileParse) -> None:
        with self.changed:
            self.results[parsed.path] = parsed
            self.busy_since.pop(threading.get_ident(), None)
            self.changed.notify_all()
        if self.on_result is not None:
            self.on_result(parsed)

    def wants_another_child(self) -> bool:
        with self.changed:
            if not self.pending or (self.cancel is not None and self.cancel.is_set()):
                return False
            now = time.monotonic()
            return (len(self.pending) > GROW_WHEN_WAITING
                    or any(now - since >= GROW_AFTER for since in self.busy_since.values()))


def _run(requests: list[tuple[str, tuple]], limits: ParseLimits,
         cancel: threading.Event | None, on_result: Callable[[FileParse], None] | None
         ) -> dict[str, FileParse]:
    """Carry out ``requests`` with one child, and more (up to the limit) when they help."""
    work = _Work(requests, limits, cancel, on_result)
    most = min(limits.processes, len(requests))
    threads: list[threading.Thread] = []
    while True:
        threads = [t for t in threads if t.is_alive()]
        stopping = not work.pending or (cancel is not None and cancel.is_set())
        if stopping and not threads:
            return work.results
        if not stopping and (not threads or (len(threads) < most
                                             and work.wants_another_child())):
            thread = threading.Thread(target=_work, args=(work,), daemon=True,
                                      name="daskflow-parse")
            thread.start()
            threads.append(thread)
        with work.changed:
            work.changed.wait(timeout=0.1)


def _work(work: _Work) -> None:
    """Take requests until none is left, through one child at a time."""
    child: _Child | None = None
    try:
        while (taken := work.next()) is not None:
            key, request, attempts = taken
            if child is None:
                try:
                    child = _Child(work.limits)
                except (OSError, ValueError, subprocess.SubprocessError) as exc:
                    work.done(FileParse(key, error=import_errors.could_not_start(key, str(exc))))
                    continue
            try:
                parsed = child.run(key, request, work.cancel, work.started)
            except Cancelled:
                return
            except Exception as exc:  # a fault here: still every file gets its answer
                child.kill()
                child = None
                work.done(FileParse(key, error=import_errors.internal(key, exc)))
                continue
            if parsed is None:  # the child died before it announced the file
                why, output = child.ended()
                fresh = child.requests_sent == 1
                child = None
                if fresh or attempts > 0:
                    work.done(FileParse(key, error=import_errors.could_not_start(
                        key, why, output)))
                else:
                    work.again(key, request, attempts)
                continue
            work.done(parsed)
            if not child.alive:
                child = None
    finally:
        if child is not None:
            child.close()


class _Child:
    """One parse process, the pipes to it, and the thread copying its output."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        command = [sys.executable, "-u", "-m", "daskflow.scheduler.parse_child",
                   "--requests", str(request_r), "--replies", str(reply_w),
                   "--parent", str(os.getpid())]
        if limits.memory is not None:
            command += ["--memory-limit", str(limits.memory)]
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output_w, stderr=output_w,
                pass_fds=(request_r, reply_w), start_new_session=True, env=_environment())
        except BaseException:
            for fd in (request_w, reply_r, output_r):
                os.close(fd)
            raise
        finally:
            for fd in (request_r, reply_w, output_w):
                os.close(fd)
        self.requests = request_w
        os.set_blocking(self.requests, False)
        self.replies = MessageReader(reply_r)
        self.output = _Output(output_r)
        self.requests_sent = 0
        self.alive = True

    # -- one request ------------------------------------------------------------------
    def run(self, key: str, request: tuple, cancel: threading.Event | None,
            started: Callable[[], None] = lambda: None) -> FileParse | None:
        """Send one request and wait for its reply; ``None`` if the child died before starting.

        After a timeout, a crash or a broken message the child is dead
        (``alive`` is false) and the result is the file's import error.
        """
        self.requests_sent += 1
        announce_by = time.monotonic() + max(STARTUP_SECONDS, self.limits.timeout)
        # Marked before the request goes out: the copying thread may read what the
        # file printed (a crash's stack) before this thread reads "start".
        mark = self.output.mark()
        try:
            write_message(self.requests, request, announce_by)
            announced = self._receive(announce_by, cancel)
        except (OSError, TimeoutError, ProtocolError):
            announced = None
        if announced != ("start", key):
            self.kill()
            return None
        started()
        deadline = time.monotonic() + self.limits.timeout
        try:
            reply = self._receive(deadline, cancel)
        except TimeoutError:
            self._dump_stacks()
            self.kill()
            return FileParse(key, error=import_errors.timed_out(
                key, self.limits.timeout, self.output.since(mark)))
        except ProtocolError as exc:
            self.kill()
            return FileParse(key, error=import_errors.protocol_broken(key, str(exc)))
        if reply is None:
            returncode = self.kill()
            return FileParse(key, error=import_errors.process_ended(
                key, returncode, self.output.since(mark), self.limits.memory))
        if not (isinstance(reply, tuple) and reply[:2] == ("done", key) and len(reply) == 3):
            self.kill()
            return FileParse(key, error=import_errors.protocol_broken(
                key, f"unexpected message {str(reply)[:100]!r}"))
        if reply[2].get("exit"):
            self.close()  # the child stops after a file that left it unfit (MemoryError)
        return _file_parse(key, reply[2])

    def _receive(self, deadline: float, cancel: threading.Event | None) -> Any:
        while True:
            try:
                return self.replies.read(deadline, poll=POLL_SECONDS)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                if cancel is not None and cancel.is_set():
                    self.kill()
                    raise Cancelled() from None

    def _dump_stacks(self) -> None:
        """Ask a hanging child where it is (its faulthandler prints every thread's stack)."""
        try:
            os.kill(self.process.pid, signal.SIGUSR1)
        except OSError:
            return
        self.output.settle(quiet=0.2, at_most=2.0)

    # -- ending -----------------------------------------------------------------------
    def ended(self) -> tuple[str, str]:
        """Why a dead child is dead, and what it printed (for a start-up failure)."""
        returncode = self.process.returncode
        why = ("it stopped answering" if returncode is None else
               f"it {import_errors.how_it_ended(returncode)}")
        return why, self.output.since(0)

    def kill(self) -> int:
        """Kill the child's whole process group; its exit code (negative: a signal)."""
        self.alive = False
        _kill_group(self.process.pid)
        returncode = self.process.wait()
        self._release()
        return returncode

    def close(self) -> None:
        """Let the child finish (end of requests), then kill whatever it left running."""
        if not self.alive:
            return
        self.alive = False
        try:
            os.close(self.requests)
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # e.g. a DAG file started a non-daemon thread
            pass
        _kill_group(self.process.pid)
        self.process.wait()
        self._release(requests_closed=True)

    def _release(self, requests_closed: bool = False) -> None:
        if not requests_closed:
            try:
                os.close(self.requests)
            except OSError:
                pass
        os.close(self.replies.fd)
        self.output.close()


def _file_parse(key: str, reply: dict[str, Any]) -> FileParse:
    parsed = FileParse(key, source=reply.get("source") or "", error=reply.get("error"))
    blob = reply.get("dags")
    if parsed.error is None and blob:
        try:
            parsed.dags = loads_dags(blob)
        except Exception as exc:  # e.g. a library the DAG refers to is missing here
            parsed.error = import_errors.not_rebuilt(key, exc)
    return parsed


def _kill_group(pid: int) -> None:
    # The group outlives a dead leader while any member lives (and its id is not
    # reused while it exists), so this also reaches what the file started.
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _environment() -> dict[str, str]:
    """This environment, with this daskflow importable first when it is not installed.

    A source checkout or an editable install may not be what a new Python
    finds first; the child must run the same daskflow as its parent.
    """
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    installed = {str(Path(p).resolve()) for key in ("purelib", "platlib")
                 if (p := sysconfig.get_paths().get(key))}
    if root not in installed:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


class _Output:
    """Copies a child's stdout and stderr to this process's stderr, keeping the latest part."""

    KEPT = 16384

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.total = 0
        self._recent = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._copy, name="daskflow-parse-output",
                                        daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            text = decoder.decode(chunk, final=not chunk)
            if text:
                with self._lock:
                    self.total += len(text)
                    self._recent = (self._recent + text)[-self.KEPT:]
                _write_stderr(text)
            if not chunk:
                os.close(self.fd)  # this thread owns the read end: it closes it at the end
                return

    def mark(self) -> int:
        with self._lock:
            return self.total

    def since(self, mark: int) -> str:
        """What was written after ``mark`` (at most the latest :attr:`KEPT` characters)."""
        self._thread.join(timeout=2.0)  # once the child is dead, the pipe ends soon
        with self._lock:
            return self._recent[-min(self.total - mark, self.KEPT):] if self.total > mark else ""

    def settle(self, quiet: float, at_most: float) -> None:
        """Wait until nothing new was written for ``quiet`` seconds (at most ``at_most``)."""
        end = time.monotonic() + at_most
        last = self.mark()
        while time.monotonic() < end:
            time.sleep(quiet)
            now = self.mark()
            if now == last:
                return
            last = now

    def close(self) -> None:
        # Something the file started in a session of its own may still hold the
        # pipe: then the thread keeps copying until that ends, and closes it then.
        self._thread.join(timeout=2.0)


def _write_stderr(text: str) -> None:
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # stderr closed (a command that already ended): drop it
        pass
