"""``FileTrigger``: fires once a path or glob matches a file, on any fsspec file system."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from daskflow.triggers.base import BaseTrigger, TriggerEvent


def file_present(filepath: str, recursive: bool = False) -> bool:
    """Whether ``filepath`` (a URL or local path; a glob matches any file) exists."""
    import fsspec

    return path_present(*fsspec.core.url_to_fs(str(filepath)), recursive)


def path_present(fs: Any, path: str, recursive: bool = False) -> bool:
    """Whether ``path`` exists on ``fs``: a glob matching anything, or (``recursive``) a
    folder holding a file somewhere below it."""
    if any(char in path for char in "*?["):
        return bool(fs.glob(path))
    if not fs.exists(path):
        return False
    if recursive and fs.isdir(path):
        return any(fs.isfile(p) for p in fs.find(path))
    return True


class FileTrigger(BaseTrigger):
    """Checks ``filepath`` every ``poke_interval`` seconds; fires ``True`` once it is there.

    The check runs in a thread (file systems block), so a slow one delays
    no other trigger.
    """

    def __init__(self, filepath: str, recursive: bool = False, poke_interval: float = 5.0,
                 **kwargs: Any) -> None:
        super().__init__()
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("daskflow.triggers.file.FileTrigger", {
            "filepath": self.filepath, "recursive": self.recursive,
            "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while not await asyncio.to_thread(file_present, self.filepath, self.recursive):
            await asyncio.sleep(self.poke_interval)
        yield TriggerEvent(True)
