"""What the ``daskflow cluster`` tests share: a DAG that tells which process ran its task,
and reading what a running ``daskflow cluster`` command printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import psutil
from cli_processes import Background, daskflow, environment, wait_for

#: A DAG whose one task writes the process id of the worker that ran it.
PID_DAG = '''
import os

from daskflow import DAG, task

with DAG("pids") as dag:
    @task
    def write_pid(params=None):
        with open(params["out"], "w") as f:
            f.write(str(os.getpid()))

    write_pid()
'''


def printed(command: Background, label: str) -> str:
    """The value of a ``Label: value`` line of the command's stdout, once printed."""
    def line() -> str | None:
        assert command.process.poll() is None, f"the command exited early:\n{command.stderr}"
        found = [row.split(": ", 1)[1] for row in command.stdout.splitlines()
                 if row.startswith(f"{label}: ")]
        return found[0] if found else None

    return wait_for(line, f"a {label!r} line on stdout")


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def still_running(processes: list[psutil.Process]) -> list[str]:
    """Those of ``processes`` alive once given a generous while to finish exiting."""
    _, alive = psutil.wait_procs(processes, timeout=60)
    return [f"{p.pid} {p.cmdline()}" for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def run_pid_dag(env: dict[str, str], address: str, out: Path) -> int:
    done = daskflow(env, "dags", "test", "pids", "--cluster", address,
                    "--conf", json.dumps({"out": str(out)}), "--output", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "success"
    return int(out.read_text())


def environment_with_pid_dag(tmp_path: Path) -> dict[str, str]:
    """A home and a DAG folder holding only the ``pids`` DAG."""
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "pids.py").write_text(PID_DAG)
    return environment(tmp_path / "home", folder)
