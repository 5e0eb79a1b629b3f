"""``BaseSQLOperator``: what the SQL check, branch and transfer operators share.

Airflow's common.sql base class: a ``conn_id`` whose ``conn_type`` picks the
hook (a :class:`~daskflow.hooks.sql.DbApiHook`), ``database`` to use another
database of the same server, ``hook_params`` for the hook, and
``retry_on_failure``: a failed check is retried as the task's ``retries``
say (the default), or fails at once with ``retry_on_failure=False``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from daskflow.exceptions import DaskflowError, TaskFailedNoRetry
from daskflow.models.baseoperator import BaseOperator


class SQLCheckError(DaskflowError):
    """A SQL check found data it does not accept (retried as ``retries`` say)."""


class SQLCheckFailedNoRetry(TaskFailedNoRetry):
    """A SQL check failed and ``retry_on_failure`` is False: no retry."""


#: Strings a query may return for true and for false (Airflow's list).
TRUE_STRINGS = ("y", "yes", "t", "true", "on", "1")
FALSE_STRINGS = ("n", "no", "f", "false", "off", "0")


def parse_boolean(value: str) -> bool:
    """``value`` read as a boolean word; ValueError for anything else.

    >>> parse_boolean("Yes"), parse_boolean("off")
    (True, False)
    """
    lowered = value.strip().lower()
    if lowered in TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    raise ValueError(f"{value!r} is not a boolean word ({', '.join(TRUE_STRINGS)} or "
                     f"{', '.join(FALSE_STRINGS)})")


def float_or_text(value: Any) -> float | Any:
    """``value`` as a float when it reads as one, else unchanged.

    >>> float_or_text("2.5"), float_or_text("abc"), float_or_text(None)
    (2.5, 'abc', None)
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class BaseSQLOperator(BaseOperator):
    """Holds the connection settings and finds the SQL hook (see the module docstring)."""

    template_fields = ("conn_id", "database", "hook_params")

    def __init__(self, *, conn_id: str | None = None, database: str | None = None,
                 hook_params: dict[str, Any] | None = None, retry_on_failure: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.database = database
        self.hook_params = dict(hook_params or {})
        self.retry_on_failure = bool(retry_on_failure)

    def get_db_hook(self) -> Any:
        """The :class:`DbApiHook` for ``conn_id``, by its connection's type."""
        return sql_hook(self.conn_id, self.hook_params, self.database, self.task_id)

    def _raise_exception(self, message: str) -> NoReturn:
        if self.retry_on_failure:
            raise SQLCheckError(message)
        raise SQLCheckFailedNoRetry(message)


def sql_hook(conn_id: str | None, hook_params: dict[str, Any] | None = None,
             database: str | None = None, task_id: str = "?") -> Any:
    """The SQL hook for ``conn_id``; an error naming the task when it is no database."""
    from daskflow.hooks.base import BaseHook
    from daskflow.hooks.sql import DbApiHook

    if not conn_id:
        raise ValueError(f"task {task_id!r}: conn_id is required")
    params = dict(hook_params or {})
    if database:
        params.setdefault("schema", database)
    hook = BaseHook.get_hook(conn_id, hook_params=params)
    if not isinstance(hook, DbApiHook):
        raise DaskflowError(f"task {task_id!r}: connection {conn_id!r} gives a "
                            f"{type(hook).__name__}, not a SQL hook (DbApiHook)")
    return hook
