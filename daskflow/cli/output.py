"""Rendering command results: an aligned text table for people, JSON for programs.

Every command that prints data takes ``--output table|json`` and hands its
rows (plain dicts) to :func:`render`, so all commands format dates, durations
and empty values the same way. JSON goes out as one document on one line,
nothing else on stdout, so ``daskflow ... --output json | jq`` always parses.

Both go through :func:`daskflow.secrets.redact_value` first: secrets this
process registered (a connection it read) show as ``***``, and so does the
value of any column or key with a sensitive name (``password``, ``token``, ...).

>>> render([{"task_id": "extract", "state": "success", "duration": 1.5}],
...        ["task_id", "state", "duration"], "table")
task_id  state    duration
-------  -------  --------
extract  success  1.50
>>> render([{"task_id": "extract", "tries": (1, 2)}], ["task_id", "tries"], "json")
[{"task_id": "extract", "tries": [1, 2]}]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

import click

from daskflow.secrets.masking import redact_value

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json")
MAX_CELL = 80


def output_option(fn: F) -> F:
    """``--output table|json`` (default ``table``), passed to the command as ``output``."""
    return click.option(
        "--output", "-o", type=click.Choice(FORMATS), default="table", show_default=True,
        help="Print a table for reading or JSON for programs.",
    )(fn)


def render(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], output: str) -> None:
    """Print ``rows`` (only ``columns``, in that order) as a table or a JSON list."""
    shown = [{name: row.get(name) for name in columns} for row in rows]
    if output == "json":
        emit_json(shown)
        return
    for line in table_lines(shown, columns):
        click.echo(line)


def emit_json(value: Any) -> None:
    """Print ``value`` as one line of JSON (dates as ISO strings), secrets as ``***``."""
    click.echo(json.dumps(redact_value(_plain(value)), default=_json_default))


def table_lines(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """The lines of an aligned table: header, rule, one line per row, secrets as ``***``."""
    cells = [[cell(redact_value(_plain(row.get(name)), name)) for name in columns]
             for row in rows]
    widths = [max([len(name), *(len(r[i]) for r in cells)]) for i, name in enumerate(columns)]
    lines = [_line(columns, widths), _line(["-" * w for w in widths], widths)]
    lines.extend(_line(r, widths) for r in cells)
    return lines


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def cell(value: Any) -> str:
    """One value as table text: ``None`` empty, dates to the second, durations to 10 ms."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
    elif isinstance(value, float):
        text = f"{value:.2f}"
    elif isinstance(value, (list, tuple, set, frozenset)):
        text = ", ".join(cell(v) for v in value)
    elif isinstance(value, Mapping):
        text = json.dumps(value, default=_json_default)
    else:
        text = str(value)
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def _plain(value: Any) -> Any:
    """``value`` with dates, enums and sets as JSON shows them, so redaction sees their text."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool, datetime, date, Enum)):
        return value
    return _json_default(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
