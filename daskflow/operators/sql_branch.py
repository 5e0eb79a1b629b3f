"""``BranchSQLOperator``: follow one branch or another by what a query answers.

The query's first value decides: a boolean, an integer (0 is false) or a
word (``true``/``yes``/``on``/``1``, ``false``/``no``/``off``/``0``, any case).
Anything else, or no row, fails the task. As for the other branch operators
(``_branching.py``), ``execute`` returns the task ids to follow and every
other direct downstream task is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from daskflow.operators._branching import check_follow
from daskflow.operators.sql_base import BaseSQLOperator, parse_boolean

log = logging.getLogger(__name__)


class BranchSQLOperator(BaseSQLOperator):
    """Follows ``follow_task_ids_if_true`` when ``sql`` answers true, else
    ``follow_task_ids_if_false``."""

    is_branch = True
    template_fields = ("sql", *BaseSQLOperator.template_fields)
    template_ext = (".sql",)
    ui_color = "#a22034"
    ui_fgcolor = "#F7F7F7"

    def __init__(self, *, sql: str, follow_task_ids_if_true: str | Iterable[str],
                 follow_task_ids_if_false: str | Iterable[str],
                 conn_id: str = "default_conn_id", database: str | None = None,
                 parameters: Iterable[Any] | Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, database=database, **kwargs)
        self.sql = sql
        self.parameters = parameters
        self.follow_task_ids_if_true = check_follow(self, "follow_task_ids_if_true",
                                                    follow_task_ids_if_true)
        self.follow_task_ids_if_false = check_follow(self, "follow_task_ids_if_false",
                                                     follow_task_ids_if_false)

    def execute(self, context: dict[str, Any]) -> str | list[str]:
        log.info("Executing: %s (with parameters %s) with connection: %s", self.sql,
                 self.parameters, self.conn_id)
        record = self.get_db_hook().get_first(self.sql, self.parameters)
        if record is None:
            self._raise_exception(f"No rows returned from sql query {self.sql!r}: the "
                                  "operator expects a true or false value")
        value = record[0] if isinstance(record, (tuple, list)) else record
        value = value[0] if isinstance(value, (tuple, list)) else value
        log.info("Query returns %s, type '%s'", value, type(value).__name__)
        try:
            if isinstance(value, str):
                answer = parse_boolean(value)
            elif isinstance(value, int):  # bool is an int too
                answer = bool(value)
            else:
                raise ValueError
        except ValueError:
            self._raise_exception(f"Unexpected query return result {value!r} type "
                                  f"'{type(value).__name__}' from {self.sql!r}")
        follow = self.follow_task_ids_if_true if answer else self.follow_task_ids_if_false
        print(f"The query answered {value!r}: following {follow}")
        return follow
