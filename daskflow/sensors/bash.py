"""``BashSensor``: waits until a bash command exits 0.

Any other exit code means "not yet", unless ``retry_exit_code`` is set: then
only that code means "not yet" and any other non-zero code fails the task at
once, without retries (as in Airflow).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import Any

from daskflow.exceptions import TaskFailedNoRetry
from daskflow.sensors.base import BaseSensorOperator


class BashSensor(BaseSensorOperator):
    """Pokes by running ``bash_command`` (templated) in a temporary directory."""

    template_fields = ("bash_command", "env")

    def __init__(self, *, bash_command: str, env: dict[str, str] | None = None,
                 output_encoding: str = "utf-8", retry_exit_code: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code

    def poke(self, context: dict[str, Any]) -> bool:
        bash = shutil.which("bash") or "bash"
        with tempfile.TemporaryDirectory(prefix="daskflow-bash-sensor-") as cwd:
            done = subprocess.run([bash, "-c", self.bash_command], cwd=cwd, env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  start_new_session=True, check=False)
        output = done.stdout.decode(self.output_encoding, errors="replace")
        if output:
            print(output, end="" if output.endswith("\n") else "\n")
        print(f"Command exited with return code {done.returncode}")
        if done.returncode == 0:
            return True
        if self.retry_exit_code is not None and done.returncode != self.retry_exit_code:
            raise TaskFailedNoRetry(f"Command exited with return code {done.returncode}")
        return False
