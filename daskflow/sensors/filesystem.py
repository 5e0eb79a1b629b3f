"""``FileSensor``: waits until a path (or a glob) exists, on any fsspec file system.

A local path needs no connection (Airflow's ``fs_default`` gives the same);
``s3://``, ``gcs://``, ``memory://`` and every other fsspec protocol work by
URL, with fsspec's own credentials lookup.
"""

from __future__ import annotations

from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.sensors.base import BaseSensorOperator


class FileSensor(BaseSensorOperator):
    """Waits for ``filepath`` (templated; a glob pattern matches any file)."""

    template_fields = ("filepath",)

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
        import fsspec

        fs, path = fsspec.core.url_to_fs(str(self.filepath))
        if any(char in path for char in "*?["):
            return bool(fs.glob(path))
        if not fs.exists(path):
            return False
        if fs.isdir(path) and self.recursive:
            return any(fs.isfile(p) for p in fs.find(path))
        return True
