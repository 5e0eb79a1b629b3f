"""Command groups whose commands are imported only when they are used.

``daskflow --help`` or ``daskflow dags trigger --help`` must answer at once,
but a command such as ``dags test`` needs Dask, distributed and SQLAlchemy,
which take seconds to import. So a group names its commands as
``"module:attribute"`` and imports a command's module only when click asks
for that command; and the command modules themselves import the heavy
libraries inside the functions that use them, not at the top.

>>> group = LazyGroup("demo", lazy_commands={"runs": "daskflow.cli.runs:runs_group"})
>>> group.list_commands(None)
['runs']
>>> group.get_command(None, "runs").name
'runs'
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A click group that imports each of ``lazy_commands`` when it is first asked for."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(self._load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, name: str) -> click.Command:
        module_name, _, attribute = self.lazy_commands[name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[name]} is not a click command")
        return command
