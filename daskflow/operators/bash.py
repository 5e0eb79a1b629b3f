"""``BashOperator``: run a shell command in its own process group.

The command runs under ``bash -c`` in a new session, so a timeout or a kill
stops the whole process group (the command and everything it started), not
just the shell. Output lines go to the task log as they come; the last line
is the task's return value. Exit code 99 (``skip_on_exit_code``) ends the
task as ``skipped``; any other non-zero code fails it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Container
from typing import Any

from daskflow.exceptions import DaskflowError, TaskSkipped
from daskflow.models.baseoperator import BaseOperator


class BashOperator(BaseOperator):
    """Run ``bash_command``; fail on a non-zero exit code."""

    template_fields = ("bash_command", "env", "cwd")
    template_ext = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] = lambda output: output,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = (
            [] if skip_on_exit_code is None
            else [skip_on_exit_code] if isinstance(skip_on_exit_code, int)
            else list(skip_on_exit_code)
        )
        self.cwd = cwd
        self.output_processor = output_processor
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def execute(self, context: dict[str, Any]) -> Any:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise DaskflowError(f"task {self.task_id!r}: cwd {self.cwd!r} is not a directory")
        bash = shutil.which("bash") or "/bin/bash"
        with self._lock:
            self._process = subprocess.Popen(
                [bash, "-c", self.bash_command], stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=self._environment(context), cwd=self.cwd,
                start_new_session=True,
            )
        last_line = ""
        for raw in self._process.stdout:
            line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip()
            sys.stdout.write(line + "\n")
            last_line = line
        code = self._process.wait()
        if code in self.skip_on_exit_code:
            raise TaskSkipped(f"Bash command returned exit code {code}; skipping.")
        if code != 0:
            raise DaskflowError(
                f"Bash command failed. The command returned a non-zero exit code {code}."
            )
        return self.output_processor(last_line)

    def on_kill(self) -> None:
        """Stop the command's whole process group: SIGTERM, then SIGKILL."""
        with self._lock:
            process = self._process
        if process is None:
            return
        # Even when bash itself has ended, what it started in the background may
        # still run (and hold stdout open, blocking execute), so signal the group.
        for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
            try:
                os.killpg(process.pid, sig)
            except (ProcessLookupError, PermissionError):  # the group is gone
                return
            if grace is None:
                break
            try:
                process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue

    def _environment(self, context: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ) if (self.env is None or self.append_env) else {}
        env.update(self.env or {})
        ti = context.get("ti")
        values = {
            "DAG_ID": str(getattr(ti, "dag_id", "")),
            "TASK_ID": self.task_id,
            "RUN_ID": str(context.get("run_id", "")),
            "TRY_NUMBER": str(getattr(ti, "try_number", "")),
            "LOGICAL_DATE": str(context.get("ts", "")),
        }
        env.update({f"DASKFLOW_CTX_{name}": value for name, value in values.items()})
        # The names Airflow sets, so that scripts written for it keep working.
        env.update({
            "AIRFLOW_CTX_DAG_ID": values["DAG_ID"],
            "AIRFLOW_CTX_TASK_ID": values["TASK_ID"],
            "AIRFLOW_CTX_DAG_RUN_ID": values["RUN_ID"],
            "AIRFLOW_CTX_TRY_NUMBER": values["TRY_NUMBER"],
            "AIRFLOW_CTX_LOGICAL_DATE": values["LOGICAL_DATE"],
            "AIRFLOW_CTX_EXECUTION_DATE": values["LOGICAL_DATE"],
        })
        return env

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_process", None)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._process = None
        self._lock = threading.Lock()
