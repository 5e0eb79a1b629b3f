"""How an error reaches the user of the command line: one line on stderr, exit code 2.

Bad input (an unknown DAG id, a DAG file that does not import, ``--conf``
that is not JSON, a store or cluster that cannot be reached) is reported as
the :class:`~daskflow.exceptions.DaskflowError` message, which already names
what is wrong, plus a hint on how to fix it where the error type implies one.
No traceback is printed for such errors: a traceback would bury the one line
that matters. Exit code 1 stays reserved for "the run itself failed".
"""

from __future__ import annotations

from typing import IO, Any

import click

from daskflow.cli.lazy import LazyGroup
from daskflow.exceptions import DaskflowError

#: Exit code of every error in the user's input or environment.
BAD_INPUT = 2

#: (error type's name, words that show the message already says how to fix it, hint).
#: Types go by name: importing the store's errors would import SQLAlchemy into
#: every command, ``--help`` included.
_HINTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("RunExistsError", ("--logical-date",),
     "pass another --logical-date (or --run-id), or run that run again with "
     "`daskflow tasks clear`"),
    ("NotFoundError", ("--db",), "check the name, and --db or DASKFLOW_DB"),
    ("StoreError", ("--db",), "check --db or DASKFLOW_DB"),
    ("ClusterError", ("scheduler", "daskflow.cluster"),
     "pass a running scheduler's address with --cluster, or omit it"),
    ("DagNotFound", ("--dags-folder",),
     "check the DAG id, or point --dags-folder at the folder that defines it"),
    ("DagImportError", ("fix the", "--dags-folder"),
     "fix the file(s) named above, or check the DAG id"),
    ("TaskNotFound", ("tasks list",), "see the task ids with `daskflow tasks list DAG_ID`"),
)


class CliError(click.ClickException):
    """An error shown as ``Error: <message>`` on stderr, exiting with code 2."""

    exit_code = BAD_INPUT

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


def from_exception(exc: DaskflowError) -> CliError:
    """The :class:`CliError` for ``exc``: its message, then a hint if it has none."""
    message = str(exc).strip() or type(exc).__name__
    kinds = {cls.__name__ for cls in type(exc).__mro__ if cls.__module__.startswith("daskflow")}
    for error_type, tokens, hint in _HINTS:
        if error_type in kinds and not any(t in message for t in tokens):
            message += f"\n{hint}" if "\n" in message else f" ({hint})"
            break
    return CliError(message)


def last_line(text: str) -> str:
    """The last non-empty line of a traceback: the exception and its message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no traceback)"


class DaskflowGroup(LazyGroup):
    """The root group: any DaskflowError from any command becomes a :class:`CliError`.

    Nested groups run inside the root's ``invoke``, so converting here covers
    every command, and commands themselves never catch errors just to print them.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DaskflowError as exc:
            raise from_exception(exc) from None
