"""``SqlSensor``: waits until a query's answer says so.

Airflow's ``airflow.providers.common.sql.sensors.sql.SqlSensor``, same
parameters and meaning. Each poke runs ``sql`` and takes its first row:

- no row: fail if ``fail_on_empty``, else not yet;
- ``selector(row)`` picks the value (default: the first cell);
- ``failure(value)`` true: the task fails (a retryable error);
- ``success(value)`` decides when given, else the value's truth does
  (so ``0``, ``''``, ``NULL`` mean "not yet").
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from daskflow.exceptions import DaskflowError
from daskflow.hooks.base import BaseHook
from daskflow.sensors.base import BaseSensorOperator

log = logging.getLogger(__name__)


class SqlSensor(BaseSensorOperator):
    """Pokes ``sql`` on ``conn_id`` until the selected value passes.

    :param conn_id: the connection to the database.
    :param sql: the query (templated; a ``.sql`` file is read as a template).
    :param parameters: values for its placeholders, in the driver's paramstyle.
    :param success: ``value -> bool``; default: ``bool(value)``.
    :param failure: ``value -> bool``; true fails the task.
    :param selector: ``row -> value``; default: the first cell.
    :param fail_on_empty: fail when the query returns no row (default: wait).
    :param hook_params: extra keyword arguments for the hook.
    """

    template_fields = ("sql", "parameters", "hook_params")
    template_ext = (".hql", ".sql")
    ui_color = "#7c7287"

    def __init__(self, *, conn_id: str, sql: str,
                 parameters: Sequence[Any] | Mapping[str, Any] | None = None,
                 success: Callable[[Any], bool] | None = None,
                 failure: Callable[[Any], bool] | None = None,
                 selector: Callable[[Sequence[Any]], Any] = operator.itemgetter(0),
                 fail_on_empty: bool = False, hook_params: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value in (("success", success), ("failure", failure),
                            ("selector", selector)):
            if value is not None and not callable(value):
                raise TypeError(f"task {self.task_id!r}: {name} must be callable, "
                                f"got {value!r}")
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters
        self.success = success
        self.failure = failure
        self.selector = selector
        self.fail_on_empty = fail_on_empty
        self.hook_params = dict(hook_params or {})

    def _get_hook(self) -> Any:
        hook = BaseHook.get_hook(self.conn_id, hook_params=self.hook_params)
        if not hasattr(hook, "get_records"):
            raise DaskflowError(f"task {self.task_id!r}: connection {self.conn_id!r} is "
                                f"not a SQL database ({type(hook).__name__} has no "
                                f"get_records)")
        return hook

    def poke(self, context: dict[str, Any]) -> bool:
        hook = self._get_hook()
        log.info("Poking %r: %s (parameters %s)", self.conn_id, self.sql, self.parameters)
        records = hook.get_records(self.sql, self.parameters)
        if not records:
            if self.fail_on_empty:
                raise DaskflowError(f"task {self.task_id!r}: the query on connection "
                                    f"{self.conn_id!r} returned no rows (fail_on_empty)")
            return False
        value = self.selector(records[0])
        if self.failure is not None and self.failure(value):
            raise DaskflowError(f"task {self.task_id!r}: failure({value!r}) is true for the "
                                f"query on connection {self.conn_id!r}")
        if self.success is not None:
            return bool(self.success(value))
        return bool(value)
