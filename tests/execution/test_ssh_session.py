"""``daskflow.execution.ssh_session``: the command it runs lives only as long as its stdin.

Closing the guard's stdin is what sshd does when the SSH session ends; the
command (here a Python that starts a child of its own and sleeps, like a
Dask worker with its nanny's process) must then go, its whole tree with it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

GUARD = [sys.executable, "-m", "daskflow.execution.ssh_session"]
ROOT = Path(__file__).resolve().parents[2]

#: A command with a child of its own, which prints both pids then sleeps.
TREE = ("import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        "print(child.pid, flush=True); time.sleep(300)")


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*GUARD, *args], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def tree_of(guard: subprocess.Popen) -> list[psutil.Process]:
    grandchild = int(guard.stdout.readline())
    command = psutil.Process(guard.pid).children()
    assert len(command) == 1
    return [*command, psutil.Process(grandchild)]


def test_closing_stdin_ends_the_command_and_its_children() -> None:
    guard = start("-c", TREE)
    try:
        tree = tree_of(guard)
        guard.stdin.close()
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert alive == []
        # The command died of the SIGTERM it got; its status is passed on.
        assert guard.wait(30) == 128 + signal.SIGTERM
    finally:
        guard.kill()
        guard.wait()


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    guard = start("-c", "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + TREE)
    try:
        tree = tree_of(guard)
        began = time.monotonic()
        guard.stdin.close()
        _, alive = psutil.wait_procs(tree, timeout=60)
        assert alive == []
        assert time.monotonic() - began >= 5  # not before the grace period
        assert guard.wait(30) == 128 + signal.SIGKILL
    finally:
        guard.kill()
        guard.wait()


def test_the_command_s_own_end_is_the_guard_s() -> None:
    done = subprocess.run([*GUARD, "-c", "import sys; print('out'); sys.exit(3)"], cwd=ROOT,
                          stdin=subprocess.PIPE, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "out\n")


def test_signals_reach_the_command() -> None:
    guard = start("-c", TREE)
    tree: list[psutil.Process] = []
    try:
        tree = tree_of(guard)
        guard.send_signal(signal.SIGINT)  # stdin stays open
        # The command's uncaught KeyboardInterrupt ends it as SIGINT would.
        assert guard.wait(30) == 128 + signal.SIGINT
        assert psutil.wait_procs(tree[:1], timeout=30)[1] == []
    finally:
        guard.kill()
        guard.wait()
        for process in tree:  # the sleeping grandchild, which no signal reached
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
