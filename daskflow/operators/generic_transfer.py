"""``GenericTransfer``: copy the rows of a query from one database to another
(Airflow's ``airflow.providers.common.sql.operators.generic_transfer``).

The rows go through the worker's memory: the source hook's ``get_records``,
then the destination hook's ``insert_rows`` with ``insert_args``
(``target_fields``, ``commit_every``, ``replace``). With ``page_size`` the
query is read a page at a time (``paginated_sql_statement_clause``, by
default ``{} LIMIT {} OFFSET {}``: the query, the page size, the offset), so
a large table never sits in memory whole. ``preoperator`` runs on the
destination first (e.g. to empty or create the table). Airflow's
``deferrable`` paging is not available; ``deferrable=True`` is refused.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models.baseoperator import BaseOperator
from daskflow.operators.sql_base import sql_hook

log = logging.getLogger(__name__)


class GenericTransfer(BaseOperator):
    """Runs ``sql`` on ``source_conn_id`` and inserts its rows into ``destination_table``
    of ``destination_conn_id``; returns nothing."""

    template_fields = ("source_conn_id", "destination_conn_id", "sql", "destination_table",
                       "preoperator", "insert_args", "page_size",
                       "paginated_sql_statement_clause")
    template_ext = (".sql", ".hql")
    ui_color = "#b0f07c"

    def __init__(self, *, sql: str | list[str], destination_table: str, source_conn_id: str,
                 destination_conn_id: str, source_hook_params: dict[str, Any] | None = None,
                 destination_hook_params: dict[str, Any] | None = None,
                 rows_processor: Callable[..., list[Any]] | None = None,
                 preoperator: str | list[str] | None = None,
                 insert_args: dict[str, Any] | None = None, page_size: int | None = None,
                 paginated_sql_statement_clause: str | None = None,
                 deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if deferrable:
            raise DagDefinitionError(f"{self._where('deferrable')} is not available for "
                                     "GenericTransfer in daskflow; page_size pages in the task")
        self.sql = sql
        self.destination_table = destination_table
        self.source_conn_id = source_conn_id
        self.destination_conn_id = destination_conn_id
        self.source_hook_params = source_hook_params
        self.destination_hook_params = destination_hook_params
        self.rows_processor = rows_processor
        self.preoperator = preoperator
        self.insert_args = dict(insert_args or {})
        self.page_size = page_size
        self.paginated_sql_statement_clause = (paginated_sql_statement_clause
                                               or "{} LIMIT {} OFFSET {}")

    @property
    def source_hook(self) -> Any:
        return sql_hook(self.source_conn_id, self.source_hook_params, task_id=self.task_id)

    @property
    def destination_hook(self) -> Any:
        return sql_hook(self.destination_conn_id, self.destination_hook_params,
                        task_id=self.task_id)

    def get_paginated_sql(self, offset: int) -> str:
        """The page of the query that starts at row ``offset``."""
        return self.paginated_sql_statement_clause.format(self.sql, self.page_size, offset)

    def execute(self, context: dict[str, Any]) -> None:
        source, destination = self.source_hook, self.destination_hook
        if isinstance(self.page_size, str):
            self.page_size = int(self.page_size)  # rendered from a template
        if isinstance(self.insert_args.get("commit_every"), str):
            self.insert_args["commit_every"] = int(self.insert_args["commit_every"])
        known = set(inspect.signature(destination.insert_rows).parameters) - {"table", "rows"}
        unknown = sorted(set(self.insert_args) - known)
        if unknown:
            raise ValueError(f"task {self.task_id!r}: insert_args {unknown} are not arguments "
                             f"of insert_rows; it takes {', '.join(sorted(known))}")
        if self.preoperator:
            log.info("Running preoperator: %s", self.preoperator)
            destination.run(self.preoperator)
        total = 0
        if self.page_size and isinstance(self.sql, str):
            offset = 0
            while rows := source.get_records(self.get_paginated_sql(offset)):
                total += self._insert(destination, rows, context)
                if len(rows) < self.page_size:
                    break
                offset += self.page_size
        else:
            for statement in [self.sql] if isinstance(self.sql, str) else self.sql:
                log.info("Extracting data from %s: %s", self.source_conn_id, statement)
                total += self._insert(destination, source.get_records(statement) or [],
                                      context)
        print(f"Transferred {total} row(s) from {self.source_conn_id!r} to "
              f"{self.destination_table} on {self.destination_conn_id!r}")

    def _insert(self, destination: Any, rows: list[Any], context: dict[str, Any]) -> int:
        if self.rows_processor is not None:
            rows = self.rows_processor(rows, **context)
        return destination.insert_rows(table=self.destination_table, rows=rows,
                                       **self.insert_args)
