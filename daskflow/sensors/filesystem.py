"""``FileSensor``: waits until a path (or a glob) exists, on any fsspec file system.

A local path needs no connection (Airflow's ``fs_default`` gives the same);
``s3://``, ``gcs://``, ``memory://`` and every other fsspec protocol work by
URL. With ``fs_conn_id`` the file system's credentials come from that
connection (:class:`~daskflow.hooks.filesystem.FsspecHook`: for ``s3`` the
login and password are the access key and secret, extra ``endpoint_url``
the server), and a relative ``filepath`` is joined to the connection's extra
``path``, as Airflow joins it to an ``fs`` connection's path. With
``deferrable=True`` it checks once and then waits on a
:class:`~daskflow.triggers.FileTrigger`, which checks every ``poke_interval``
seconds in the scheduler's process with fsspec's own credentials lookup (so
a deferrable sensor takes no other ``fs_conn_id``).
"""

from __future__ import annotations

from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.sensors.base import BaseSensorOperator
from daskflow.triggers.file import FileTrigger, path_present


class FileSensor(BaseSensorOperator):
    """Waits for ``filepath`` (templated; a glob pattern matches any file)."""

    template_fields = ("filepath",)
    supports_deferral = True

    def __init__(self, *, filepath: str, fs_conn_id: str = "fs_default",
                 recursive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.deferrable and fs_conn_id != "fs_default":
            raise DagDefinitionError(
                f"task {self.task_id!r}: a deferrable FileSensor takes no fs_conn_id "
                f"({fs_conn_id!r}): its trigger uses fsspec's own credentials; use "
                "mode='reschedule' to wait with the connection's")
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    def poke(self, context: dict[str, Any]) -> bool:
        from daskflow.hooks.filesystem import FsspecHook

        hook = FsspecHook(fs_conn_id=self.fs_conn_id)
        url = full_path(hook.base_path(), str(self.filepath))
        fs, path = hook.get_fs(url)
        with hook.errors_named(url):
            return path_present(fs, path, self.recursive)

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


def full_path(base: str | None, filepath: str) -> str:
    """``filepath`` under ``base`` unless it is absolute or a URL.

    >>> full_path("s3://lake/in", "day=1/_SUCCESS"), full_path("/data", "/tmp/x")
    ('s3://lake/in/day=1/_SUCCESS', '/tmp/x')
    """
    if not base or "://" in filepath or filepath.startswith("/"):
        return filepath
    return f"{base.rstrip('/')}/{filepath}"
