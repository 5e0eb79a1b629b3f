"""``SQLExecuteQueryOperator``: runs SQL on a connection's database.

Airflow's ``airflow.providers.common.sql.operators.sql.SQLExecuteQueryOperator``
with the same parameters and defaults. The hook is chosen by the connection's
``conn_type`` (:meth:`BaseHook.get_hook`): ``postgres``/``postgresql``,
``mysql``/``mariadb``, ``sqlite``, or any type with an extra ``sqlalchemy_url``.

What the handler returns (all rows by default) is the task's XCom, made JSON:
rows become lists, ``Decimal`` a number, dates and times ISO text, bytes text
(UTF-8) or hex.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from daskflow.hooks.base import BaseHook
from daskflow.models.baseoperator import BaseOperator

# The rest of Airflow's ``common.sql.operators.sql`` module, importable from here too.
from daskflow.operators.sql_base import BaseSQLOperator
from daskflow.operators.sql_branch import BranchSQLOperator
from daskflow.operators.sql_checks import (
    SQLCheckOperator,
    SQLIntervalCheckOperator,
    SQLThresholdCheckOperator,
    SQLValueCheckOperator,
)
from daskflow.operators.sql_table_checks import SQLColumnCheckOperator, SQLTableCheckOperator

__all__ = ["BaseSQLOperator", "BranchSQLOperator", "SQLCheckOperator",
           "SQLColumnCheckOperator", "SQLExecuteQueryOperator", "SQLIntervalCheckOperator",
           "SQLTableCheckOperator", "SQLThresholdCheckOperator", "SQLValueCheckOperator",
           "jsonable"]

log = logging.getLogger(__name__)


def _default_handler(cursor: Any) -> Any:
    from daskflow.hooks.sql import fetch_all_handler

    return fetch_all_handler(cursor)


def jsonable(value: Any) -> Any:
    """``value`` (rows of a query, nested) as JSON-ready data.

    >>> jsonable([(1, Decimal("2.50"), dt.date(2024, 1, 2), b"ok", None)])
    [[1, 2.5, '2024-01-02', 'ok', None]]
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.is_finite() \
            and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b16encode(data).decode("ascii").lower()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)) or hasattr(value, "__iter__"):
        return [jsonable(v) for v in value]
    return str(value)


class SQLExecuteQueryOperator(BaseOperator):
    """Runs ``sql`` on the database of ``conn_id``.

    :param sql: one statement, several separated by ``;`` (with
        ``split_statements=True``), a list of statements, or the path of a
        ``.sql`` file (a template, relative to the DAG's folder). Templated.
    :param conn_id: the connection to the database.
    :param parameters: values for the statement's placeholders, in the driver's
        paramstyle (``%s`` for PostgreSQL and MariaDB, ``?`` for SQLite). Templated.
    :param autocommit: commit each statement as it runs instead of once at the end.
    :param handler: called with the cursor after each statement; its result is the
        XCom (default: every row). ``None``: nothing is fetched or returned.
    :param split_statements: split a string at its semicolons (default: no).
    :param return_last: with several statements, return only the last one's result.
    :param show_return_value_in_logs: write the result to the task log.
    :param database: use this database (schema) instead of the connection's.
    :param hook_params: extra keyword arguments for the hook.
    """

    template_fields = ("sql", "parameters", "conn_id", "database", "hook_params")
    template_ext = (".sql", ".json")
    ui_color = "#cdaaed"

    def __init__(self, *, sql: str | list[str], conn_id: str | None = None,
                 database: str | None = None, hook_params: dict[str, Any] | None = None,
                 autocommit: bool = False,
                 parameters: Sequence[Any] | Mapping[str, Any] | None = None,
                 handler: Callable[[Any], Any] | None = _default_handler,
                 split_statements: bool | None = None, return_last: bool = True,
                 show_return_value_in_logs: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(sql, (str, list, tuple)) or not sql:
            raise TypeError(f"task {self.task_id!r}: sql must be a non-empty string or list "
                            f"of strings, got {sql!r}")
        if handler is not None and not callable(handler):
            raise TypeError(f"task {self.task_id!r}: handler must be callable or None")
        self.sql = sql if isinstance(sql, str) else list(sql)
        self.conn_id = conn_id
        self.database = database
        self.hook_params = dict(hook_params or {})
        self.autocommit = autocommit
        self.parameters = parameters
        self.handler = handler
        self.split_statements = split_statements
        self.return_last = return_last
        self.show_return_value_in_logs = show_return_value_in_logs

    def get_db_hook(self) -> Any:
        """The hook for ``conn_id``, by its connection's type."""
        if not self.conn_id:
            raise ValueError(f"task {self.task_id!r}: conn_id is required")
        params = dict(self.hook_params)
        if self.database:
            params.setdefault("schema", self.database)
        return BaseHook.get_hook(self.conn_id, hook_params=params)

    def execute(self, context: dict[str, Any]) -> Any:
        hook = self.get_db_hook()
        log.info("Executing on connection %r: %s", self.conn_id, self.sql)
        output = hook.run(self.sql, autocommit=self.autocommit, parameters=self.parameters,
                          handler=self.handler,
                          split_statements=bool(self.split_statements),
                          return_last=self.return_last)
        if self.handler is None or not self.do_xcom_push:
            return None
        result = jsonable(output)
        if self.show_return_value_in_logs:
            log.info("Operator output is: %s", result)
        return result
