"""Running the real ``daskflow`` command in subprocesses, for the scheduler and backfill tests.

A long-running command (``daskflow scheduler``) writes its stderr to a file
the test reads while it runs; a pipe nobody reads could fill up and block it.
Waiting is always polling with a generous deadline, never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "daskflow.cli.main"]
DEADLINE = 180.0


def environment(home: Path, dags_folder: Path, **extra: str) -> dict[str, str]:
    """This environment with this checkout importable, a home and a DAG folder of its own."""
    values = {k: v for k, v in os.environ.items()
              if k not in ("DASKFLOW_DB", "DASKFLOW_RESULTS_URL", "CI")}
    values["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), values.get("PYTHONPATH")]))
    values["DASKFLOW_HOME"] = str(home)
    values["DASKFLOW_DAGS_FOLDER"] = str(dags_folder)
    values.update(extra)
    return values


def daskflow(env: dict[str, str], *args: Any, timeout: float = DEADLINE
             ) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to its end, with no stdin."""
    return subprocess.run([*CLI, *map(str, args)], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Background:
    """A CLI command running in the background, its stderr going to a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: Any,
                 out: Path | None = None) -> None:
        self.log = log
        self.out = out
        self._file = open(log, "w")  # noqa: SIM115 -- closed in stop()
        self._out = open(out, "w") if out is not None else subprocess.DEVNULL  # noqa: SIM115
        # A session of its own, like a command started in a terminal: Ctrl-C there
        # signals the whole process group (see stop(group=True)).
        self.process = subprocess.Popen([*CLI, *map(str, args)], env=env, text=True,
                                        stdin=subprocess.DEVNULL, stdout=self._out,
                                        stderr=self._file, start_new_session=True)

    @property
    def stderr(self) -> str:
        return self.log.read_text()

    @property
    def stdout(self) -> str:
        """What the command printed to stdout so far (``out`` must have been given)."""
        assert self.out is not None, "started without out=: stdout went nowhere"
        return self.out.read_text()

    def wait_until_logged(self, text: str) -> None:
        def logged() -> bool:
            assert self.process.poll() is None, f"the command exited early:\n{self.stderr}"
            return text in self.stderr

        wait_for(logged, f"{text!r} in the command's stderr")

    def stop(self, sig: int = signal.SIGINT, timeout: float = DEADLINE, *,
             group: bool = False) -> int:
        """Send ``sig`` (to the whole process group, as a terminal's Ctrl-C does, if
        ``group``) and wait for the exit code (killed after ``timeout``)."""
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"the command did not exit on {sig!r}:\n{self.stderr}"
                                 ) from None
        finally:
            self._file.close()
            if self.out is not None:
                self._out.close()


def runs(env: dict[str, str], *args: Any) -> list[dict[str, Any]]:
    """``daskflow runs list --output json`` with more options."""
    done = daskflow(env, "runs", "list", "--output", "json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
