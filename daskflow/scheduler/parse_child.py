"""The parse process: imports the DAG files its parent names, one at a time, and sends the DAGs.

Started by ``dag_processor.py`` as ``python -m daskflow.scheduler.parse_child
--requests FD --replies FD --parent PID [--memory-limit BYTES]``, in a
session of its own. It reads requests from one pipe and writes replies to
another (``parse_protocol.py``); its stdout and stderr are a third pipe the
parent copies to its own stderr, so DAG files may print freely. For each
request it says ``start``, runs the file's code with the same machinery as
an in-process load (``dagbag.parse_in_process``), and replies ``done`` with
the DAGs pickled whole (``dag_pickling.py``), the source, or the import
error. It exits when the parent closes the request pipe, and dies with the
parent (``PR_SET_PDEATHSIG`` on Linux), so a killed scheduler leaves no
parse process behind.

Before the DAGs are pickled, every module loaded from the file's directory
or the DAG folder (helper modules a DAG file imports) is registered with
cloudpickle to travel by value: the parent then never imports them, and
Dask workers need no copy of the DAG folder.

A file's code may do anything here. What the parent needs to hear about:

- a hang: ``faulthandler`` prints every thread's stack on SIGUSR1, which the
  parent sends before it kills the process group at the timeout;
- a crash in native code: ``faulthandler`` prints the stack of the crash;
- ``sys.exit()`` / ``raise SystemExit``: caught like any error and reported
  as the file calling ``sys.exit``; ``os._exit()`` cannot be caught, the
  parent reports the exit code;
- memory: the limit is ``RLIMIT_DATA`` (soft limit only), which counts what
  a process writes to privately: heap, anonymous mappings, thread stacks.
  ``RLIMIT_AS`` would count address space merely reserved, and numpy's
  OpenBLAS alone reserves gigabytes of it for its threads: with a 512 MiB
  ``RLIMIT_AS``, ``import numpy`` followed by a 64 MiB allocation fails.
  Past the limit an allocation raises ``MemoryError``, reported as such.
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import os
import resource
import signal
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

import cloudpickle

from daskflow.scheduler import import_errors
from daskflow.scheduler.dag_pickling import dumps_dags
from daskflow.scheduler.dag_processor import FileParse
from daskflow.scheduler.dagbag import build_in_process, parse_in_process
from daskflow.scheduler.parse_protocol import MessageReader, write_message

PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    _die_with(args.parent)
    faulthandler.enable(all_threads=True)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if args.memory_limit:
        _limit_memory(args.memory_limit)
    requests = MessageReader(args.requests)
    while True:
        request = requests.read()
        if request is None:
            return 0
        key = request[1]
        write_message(args.replies, ("start", key))
        reply = handle(request, args.memory_limit)
        write_message(args.replies, ("done", key, reply))


def handle(request: tuple, memory_limit: int | None) -> dict[str, Any]:
    """Carry out one request; the reply: ``source``, ``error`` and ``dags`` (bytes)."""
    kind, key = request[0], request[1]
    try:
        if kind == "file":
            _, path, root, safe_mode = request
            parsed = parse_in_process(Path(path), safe_mode, memory_limit)
            roots = [Path(path).parent, *([Path(root)] if root else [])]
        elif kind == "source":
            _, fileloc, source, dag_id = request
            parsed = build_in_process(source, dag_id, fileloc, memory_limit)
            roots = [Path(fileloc).parent]
        else:
            return {"error": f"DagImportError: unknown parse request {kind!r}\n"}
    except BaseException as exc:  # KeyboardInterrupt and the like, raised by the file
        parsed, roots = FileParse(key, error=import_errors.from_exception(key, exc)), []
    reply: dict[str, Any] = {"source": parsed.source, "error": parsed.error, "dags": None}
    if parsed.dags:
        _pickle_by_value_under(roots)
        try:
            reply["dags"] = dumps_dags(parsed.dags)
        except Exception as exc:  # a DAG holding a lock, a socket, a generator...
            reply["error"] = import_errors.not_picklable(key, exc)
    return reply


#: Modules already looked at, per set of roots: each is looked at once per process.
_examined: dict[tuple[str, ...], set[str]] = {}


def _pickle_by_value_under(roots: list[Path]) -> None:
    """Register the modules loaded from ``roots`` (helpers of DAG files) to pickle by value."""
    folders = tuple(os.path.realpath(r) + os.sep for r in roots)
    examined = _examined.setdefault(folders, set())
    installed = [os.path.realpath(p) + os.sep for p in set(sysconfig.get_paths().values())]
    for name, module in list(sys.modules.items()):
        if name in examined:
            continue
        examined.add(name)
        path = getattr(module, "__file__", None)
        if (not isinstance(module, types.ModuleType) or not path
                or name.partition(".")[0] == "daskflow"):
            continue
        where = os.path.realpath(path)
        if where.startswith(folders) and not where.startswith(tuple(installed)):
            cloudpickle.register_pickle_by_value(module)


def _limit_memory(limit: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ValueError, OSError) as exc:
        print(f"daskflow parse process: cannot limit memory to {limit} bytes ({exc})",
              file=sys.stderr)


def _die_with(parent: int) -> None:
    """Be killed when the parent dies, not left running a file nobody waits for.

    Linux sends the signal when the *thread* that started this process ends;
    the parent's parsing threads close their child before they end.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(0)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m daskflow.scheduler.parse_child",
                                     description="Import DAG files for a daskflow parent process.")
    parser.add_argument("--requests", type=int, required=True, help="fd to read requests from")
    parser.add_argument("--replies", type=int, required=True, help="fd to write replies to")
    parser.add_argument("--parent", type=int, required=True, help="pid of the parent")
    parser.add_argument("--memory-limit", type=int, default=None, help="RLIMIT_DATA in bytes")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
