"""The text of every import error, written once so the loop and the CLI say the same thing.

An import error is stored and shown as text whose last line is the reason
(``daskflow dags list`` shows ``Import error in <file>: <last line>``), so
each text here ends with one line that names the file, says what happened
and, where there is one, the fix. Lines before it (a traceback, what the
parse process printed before it died) are context.
"""

from __future__ import annotations

import signal
import traceback
from pathlib import Path

#: How much of what a dying parse process printed is kept in its import error.
OUTPUT_KEPT = 4000


def from_exception(path: str | Path, exc: BaseException, memory_limit: int | None = None
                   ) -> str:
    """The import error of a file whose import raised ``exc`` (a traceback, then the reason)."""
    trace = "".join(traceback.format_exception(exc))
    if isinstance(exc, SystemExit):
        return trace + (
            f"DagImportError: {path} called sys.exit({exc.code!r}) while being imported; a DAG "
            "file must not exit (move the call under `if __name__ == \"__main__\":`)\n")
    if isinstance(exc, MemoryError) and memory_limit is not None:
        return trace + memory_exceeded(path, memory_limit)
    return trace


def invalid(path: str | Path, message: str) -> str:
    """A file that imported, but whose DAG is defined wrongly (a cycle, a bad argument)."""
    return f"DagDefinitionError: {path}: {message}\n"


def memory_exceeded(path: str | Path, memory_limit: int) -> str:
    return (f"DagImportError: importing {path} needed more memory than "
            f"daskflow.parse-memory-limit allows ({format_bytes(memory_limit)}); load less at "
            "import time (read data inside tasks), or raise the limit\n")


def timed_out(path: str | Path, timeout: float, output: str = "") -> str:
    return _context(output) + (
        f"DagImportError: parsing {path} took longer than {timeout:g}s "
        "(daskflow.parse-timeout); its parse process was killed and the file is skipped "
        "until it changes\n")


def process_ended(path: str | Path, returncode: int, output: str = "",
                  memory_limit: int | None = None) -> str:
    """A parse process that died while it imported ``path`` (exit code or signal)."""
    how = how_it_ended(returncode)
    if returncode < 0:
        name = _signal_name(-returncode)
        if name == "SIGKILL":
            how += " (by the kernel's out-of-memory killer?)"
        elif name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"):
            how += " (a crash in native code the file runs)"
        if memory_limit is not None and name in ("SIGKILL", "SIGSEGV", "SIGBUS", "SIGABRT"):
            # Native code that finds no memory under the limit may crash instead of raising.
            how += f" [daskflow.parse-memory-limit is {format_bytes(memory_limit)}]"
    else:
        how += (" (os._exit() or a fatal error in the file or a module it imports; a DAG "
                "file must not exit)")
    return _context(output) + (
        f"DagImportError: the parse process importing {path} {how}; the file is skipped "
        "until it changes\n")


def how_it_ended(returncode: int) -> str:
    """'exited with code 3', 'was killed by SIGSEGV'."""
    if returncode < 0:
        return f"was killed by {_signal_name(-returncode)}"
    return f"exited with code {returncode}"


def could_not_start(path: str | Path, why: str, output: str = "") -> str:
    return _context(output) + (
        f"DagImportError: no parse process could be started for {path}: {why}; check that "
        "this Python can run `python -m daskflow.scheduler.parse_child`\n")


def not_picklable(path: str | Path, exc: BaseException) -> str:
    return (f"DagImportError: the DAGs of {path} cannot be sent from the parse process "
            f"({type(exc).__name__}: {exc}); a DAG must be picklable with cloudpickle, as "
            "its tasks are shipped to Dask workers (avoid locks, open files and sockets "
            "at module level)\n")


def not_rebuilt(path: str | Path, exc: BaseException) -> str:
    return (f"DagImportError: the DAGs of {path} could not be rebuilt from its parse process "
            f"({type(exc).__name__}: {exc})\n")


def protocol_broken(path: str | Path, why: str) -> str:
    return (f"DagImportError: the parse process importing {path} stopped following its "
            f"protocol ({why}; does the file write to inherited file descriptors?)\n")


def internal(path: str | Path, exc: BaseException) -> str:
    """A fault of daskflow's own while it parsed ``path`` (a bug to report)."""
    trace = "".join(traceback.format_exception(exc))
    return trace + (f"DagImportError: parsing {path} failed inside daskflow "
                    f"({type(exc).__name__}: {exc}); the file is parsed again when it changes\n")


def duplicate(dag_id: str, paths: list[str]) -> str:
    """The error of each file defining ``dag_id`` when several do."""
    if len(paths) == 2:
        where = f"both {paths[0]} and {paths[1]}"
    else:
        where = f"{len(paths)} files: {', '.join(paths)}"
    return (f"DagDefinitionError: DAG id {dag_id!r} is defined in {where}; rename one of "
            "them (until then the DAG is loaded from none of these files)\n")


def last_line(text: str) -> str:
    """The reason: the last non-empty line of an import error."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no details)"


def format_bytes(size: int) -> str:
    """1073741824 -> '1GiB', 536870912 -> '512MiB'."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            value = size / factor
            return f"{value:g}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{size}B"


def _context(output: str) -> str:
    text = output[-OUTPUT_KEPT:].rstrip()
    return f"{text}\n" if text else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
