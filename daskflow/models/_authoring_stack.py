"""Which DAG and task group a task created right now belongs to.

``with DAG(...)`` and ``with TaskGroup(...)`` push themselves here so that a
task constructed inside the block joins them without being told. This is the
one piece of authoring-time global state, as in Airflow; it is never read
while a run executes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_dags: list[Any] = []
_groups: list[Any] = []
_recorders: list[list[Any]] = []


def push_dag(dag: Any) -> None:
    _dags.append(dag)
    for created in _recorders:
        created.append(dag)


@contextmanager
def recording_dags() -> Iterator[list[Any]]:
    """Collect every DAG opened as a context manager while the block runs."""
    created: list[Any] = []
    _recorders.append(created)
    try:
        yield created
    finally:
        _recorders.remove(created)


def pop_dag() -> None:
    _dags.pop()


def current_dag() -> Any | None:
    return _dags[-1] if _dags else None


def push_group(group: Any) -> None:
    _groups.append(group)


def pop_group() -> None:
    _groups.pop()


def current_group(dag: Any) -> Any | None:
    """The innermost open group of ``dag``, or ``None`` for its root."""
    for group in reversed(_groups):
        if group.dag is dag:
            return group
    return None
