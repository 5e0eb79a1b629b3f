"""``FileSensor``: waits until a path (or a glob) exists, on any fsspec file system.

A local path needs no connection (Airflow's ``fs_default`` gives the same);
``s3://``, ``gcs://``, ``memory://`` and every other fsspec protocol work by
URL. With ``fs_conn_id`` the file system's credentials come from that
connection (:class:`~daskflow.hooks.filesystem.FsspecHook`: for ``s3`` the
login and password are the access key and secret, extra ``endpoint_url``
the server), and a relative ``filepath`` is joined to the connection's extra
``path``, as Airflow joins it to an ``fs`` connection's path.
"""

from __future__ import annotations

from typing import Any

from daskflow.sensors.base import BaseSensorOperator


class FileSensor(BaseSensorOperator):
    """Waits for ``filepath`` (templated; a glob pattern matches any file)."""

    template_fields = ("filepath",)

    def __init__(self, *, filepath: str, fs_conn_id: str = "fs_default",
                 recursive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    def poke(self, context: dict[str, Any]) -> bool:
        from daskflow.hooks.filesystem import FsspecHook

        hook = FsspecHook(fs_conn_id=self.fs_conn_id)
        url = full_path(hook.base_path(), str(self.filepath))
        fs, path = hook.get_fs(url)
        with hook.errors_named(url):
            if any(char in path for char in "*?["):
                return bool(fs.glob(path))
            if not fs.exists(path):
                return False
            if self.recursive and fs.isdir(path):
                return any(fs.isfile(p) for p in fs.find(path))
            return True


def full_path(base: str | None, filepath: str) -> str:
    """``filepath`` under ``base`` unless it is absolute or a URL.

    >>> full_path("s3://lake/in", "day=1/_SUCCESS"), full_path("/data", "/tmp/x")
    ('s3://lake/in/day=1/_SUCCESS', '/tmp/x')
    """
    if not base or "://" in filepath or filepath.startswith("/"):
        return filepath
    return f"{base.rstrip('/')}/{filepath}"
