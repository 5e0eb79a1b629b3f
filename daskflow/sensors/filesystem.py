"""``FileSensor``: waits until a path (or a glob) exists, on any fsspec file system.

A local path needs no connection (Airflow's ``fs_default`` gives the same);
``s3://``, ``gcs://``, ``memory://`` and every other fsspec protocol work by
URL, with fsspec's own credentials lookup. With ``deferrable=True`` it checks
once and then waits on a :class:`~daskflow.triggers.FileTrigger`, which checks
every ``poke_interval`` seconds in the scheduler's process.
"""

from __future__ import annotations

from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.sensors.base import BaseSensorOperator
from daskflow.triggers.file import FileTrigger, file_present


class FileSensor(BaseSensorOperator):
    """Waits for ``filepath`` (templated; a glob pattern matches any file)."""

    template_fields = ("filepath",)
    supports_deferral = True

    def __init__(self, *, filepath: str, fs_conn_id: str = "fs_default",
                 recursive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if fs_conn_id != "fs_default":
            raise DagDefinitionError(
                f"task {self.task_id!r}: fs_conn_id={fs_conn_id!r} is not supported: give the "
                "file system in the path's URL (s3://bucket/key, ...) instead")
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    def poke(self, context: dict[str, Any]) -> bool:
        return file_present(str(self.filepath), self.recursive)

    def execute(self, context: dict[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self.defer(trigger=FileTrigger(str(self.filepath), self.recursive,
                                           self.poke_interval),
                       method_name="execute_complete", timeout=self.timeout)
        return None

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        if not event:
            raise FileNotFoundError(f"task {self.task_id!r}: {self.filepath} was not found")
