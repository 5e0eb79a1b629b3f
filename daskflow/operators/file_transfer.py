"""``FileTransferOperator``: copy files between fsspec URLs (Airflow's common.io name).

``src`` is a file or a glob, ``dst`` a file or (ending in ``/``, or for a
glob) a folder; the two may be on different file systems, each with the
credentials of its own connection (``hooks/filesystem.py``). The task's
return value is the list of destination paths written.
"""

from __future__ import annotations

from typing import Any

from daskflow.models.baseoperator import BaseOperator


class FileTransferOperator(BaseOperator):
    """Copies ``src`` to ``dst`` (both templated); ``overwrite`` is False by default."""

    template_fields = ("src", "dst")

    def __init__(self, *, src: str, dst: str, source_conn_id: str | None = None,
                 dest_conn_id: str | None = None, overwrite: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.src = src
        self.dst = dst
        self.source_conn_id = source_conn_id
        self.dest_conn_id = dest_conn_id
        self.overwrite = bool(overwrite)

    def execute(self, context: dict[str, Any]) -> list[str]:
        from daskflow.hooks.filesystem import FsspecHook, copy

        def hook(conn_id: str | None) -> FsspecHook:
            return FsspecHook(fs_conn_id=conn_id) if conn_id else FsspecHook()

        written = copy(str(self.src), str(self.dst), source_hook=hook(self.source_conn_id),
                       dest_hook=hook(self.dest_conn_id), overwrite=self.overwrite)
        print(f"Copied {len(written)} file(s) from {self.src} to {self.dst}")
        return written
