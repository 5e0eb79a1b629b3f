"""Tie a remote scheduler or worker to the SSH session that started it.

``daskflow cluster ssh`` starts its remote processes through this module:
``python -m daskflow.execution.ssh_session -m distributed.cli.dask_spec ...``
runs ``python -m distributed.cli.dask_spec ...`` as its child and stops it
when the session ends.

Without it nothing stops them when the command that opened the session goes
away without closing the cluster in order (killed, SIGTERM or Ctrl-C while
starting, a lost network): ``SSHCluster`` runs them as session commands
without a terminal, so sshd sends them no SIGHUP when the session ends, and
the "signal" request ``SSHCluster`` sends to stop them is refused by OpenSSH
servers without privilege separation. A scheduler left so runs until killed.

The end of the session is seen as end of file on stdin: the command's
stdin is the session's channel, which the client never closes itself, and
which sshd closes when the session goes. The child then gets SIGTERM (Dask's
processes close in order on it); once it ended, or after ``GRACE`` seconds,
every process of its tree still alive gets SIGKILL. SIGINT, SIGTERM and
SIGHUP sent here are passed on to the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

import psutil

#: Seconds the child gets to close in order once the session ended.
GRACE = 10.0

#: Signals passed on to the child.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_tree(child: subprocess.Popen, grace: float = GRACE) -> int:
    """SIGTERM to ``child``; after ``grace`` seconds, or once it ended, SIGKILL to whatever
    is left of its tree. The child's return code."""
    try:
        tree = psutil.Process(child.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    child.terminate()
    try:
        child.wait(grace)
    except subprocess.TimeoutExpired:
        child.kill()
    for process in tree:  # psutil signals none whose pid has been reused since
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    return child.wait()


def wait_for_end_of_input(ended: threading.Event) -> None:
    """Read stdin until it closes (the session ended), then set ``ended``."""
    # os.read, not sys.stdin: a daemon thread blocked holding stdin's buffer lock
    # makes the interpreter abort when the main thread exits.
    while os.read(0, 65536):
        pass
    ended.set()


def exit_status(returncode: int) -> int:
    """The child's exit status as a shell gives it (128 + N for signal N).

    >>> exit_status(0), exit_status(-15)
    (0, 143)
    """
    return 128 - returncode if returncode < 0 else returncode


def main(argv: Sequence[str]) -> int:
    if not argv:
        print("usage: python -m daskflow.execution.ssh_session ARGS... "
              "(the arguments of the Python to run, e.g. -m MODULE ...)", file=sys.stderr)
        return 2
    # The child keeps stderr and stdout (SSHCluster reads "Scheduler at" on
    # stderr) and this process group, so that whatever signals the session's
    # group reaches it too; only stdin stays here.
    child = subprocess.Popen([sys.executable, *argv], stdin=subprocess.DEVNULL)

    def forward(signum: int, frame: Any) -> None:
        child.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    ended = threading.Event()
    threading.Thread(target=wait_for_end_of_input, args=(ended,), daemon=True,
                     name="ssh-session-end").start()
    while True:
        try:
            return exit_status(child.wait(0.5))
        except subprocess.TimeoutExpired:
            if ended.is_set():
                return exit_status(stop_tree(child))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
