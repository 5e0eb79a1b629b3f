"""Checks written as data rather than SQL: Airflow's ``SQLColumnCheckOperator`` and
``SQLTableCheckOperator``.

Each operator builds one query from its checks when the task is defined (one
``SELECT`` per check, joined with ``UNION ALL``), so the whole check costs one
round trip and the query is a template field that shows, rendered, in the
task's record. ``partition_clause`` (templated, no ``;``) restricts every
check to some rows; a check's own ``partition_clause`` is added to it with
``AND``.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, ClassVar

from daskflow.exceptions import DagDefinitionError
from daskflow.operators.sql_base import BaseSQLOperator, parse_boolean

log = logging.getLogger(__name__)

#: Column check name -> the aggregate it computes.
COLUMN_CHECKS = {
    "null_check": "SUM(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)",
    "distinct_check": "COUNT(DISTINCT({column}))",
    "unique_check": "COUNT({column}) - COUNT(DISTINCT({column}))",
    "min": "MIN({column})",
    "max": "MAX({column})",
}
#: The comparisons a column check may set.
BOUNDS = ("equal_to", "greater_than", "geq_to", "less_than", "leq_to")


def where(*clauses: str | None) -> str:
    """A ``WHERE`` of the clauses given, or nothing.

    >>> where("day = '2025-01-01'", None, "id > 3")
    "WHERE day = '2025-01-01' AND id > 3"
    """
    present = [clause for clause in clauses if clause]
    return f"WHERE {' AND '.join(present)}" if present else ""


def check_partition_clause(task: BaseSQLOperator, clause: str | None) -> str | None:
    if clause is not None and ";" in clause:
        raise DagDefinitionError(f"{task._where('partition_clause')} may not contain ';' "
                                 f"(got {clause!r})")
    return clause


class SQLColumnCheckOperator(BaseSQLOperator):
    """Checks aggregates of columns of ``table`` against bounds.

    ``column_mapping`` maps a column to its checks (``null_check``,
    ``distinct_check``, ``unique_check``, ``min``, ``max``), each a dict of
    ``equal_to``, or a lower bound (``greater_than``/``geq_to``) and an upper
    bound (``less_than``/``leq_to``), with an optional ``tolerance`` (a fraction
    that widens each bound) and ``partition_clause``. A NULL result counts as 0
    when ``accept_none`` (the default).

    >>> SQLColumnCheckOperator(task_id="c", table="t",
    ...     column_mapping={"id": {"null_check": {"equal_to": 0}}}).sql.count("SELECT")
    3
    """

    template_fields = ("table", "partition_clause", "sql", *BaseSQLOperator.template_fields)
    column_checks: ClassVar[dict[str, str]] = COLUMN_CHECKS

    def __init__(self, *, table: str, column_mapping: dict[str, dict[str, Any]],
                 partition_clause: str | None = None, conn_id: str | None = None,
                 database: str | None = None, accept_none: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, database=database, **kwargs)
        self.table = table
        self.column_mapping = copy.deepcopy(column_mapping)
        self.partition_clause = check_partition_clause(self, partition_clause)
        self.accept_none = accept_none
        selects = []
        for column, checks in self.column_mapping.items():
            for check, bounds in checks.items():
                self._validate(column, check, bounds)
                selects.append(
                    f"SELECT '{column}' AS col_name, '{check}' AS check_type, "
                    f"{column}_{check} AS check_result FROM (SELECT "
                    f"{COLUMN_CHECKS[check].format(column=column)} AS {column}_{check} "
                    f"FROM {table} {where(partition_clause, bounds.get('partition_clause'))}"
                    f") AS sq")
        self.sql = (f"SELECT col_name, check_type, check_result FROM "
                    f"({' UNION ALL '.join(selects)}) AS check_columns")

    def _validate(self, column: str, check: str, bounds: dict[str, Any]) -> None:
        where_ = self._where(f"column_mapping[{column!r}][{check!r}]")
        if check not in COLUMN_CHECKS:
            raise DagDefinitionError(f"{where_}: unknown check; known: "
                                     f"{', '.join(COLUMN_CHECKS)}")
        problem = bounds_problem(bounds)
        if problem:
            raise DagDefinitionError(f"{where_}: {problem}")

    def execute(self, context: dict[str, Any]) -> None:
        records = self.get_db_hook().get_records(self.sql)
        if not records:
            self._raise_exception(f"The following query returned zero rows: {self.sql}")
        log.info("Record: %s", records)
        for column, check, result in records:
            bounds = self.column_mapping[column][check]
            bounds["result"] = result
            bounds["success"] = self._matches(bounds, result)
        failed = [f"Column: {column}\n\tCheck: {check},\n\tCheck Values: {bounds}\n"
                  for column, checks in self.column_mapping.items()
                  for check, bounds in checks.items() if not bounds.get("success")]
        if failed:
            self._raise_exception(f"Test failed.\nQuery:\n{self.sql}\nResults:\n{records!s}\n"
                                  f"The following tests have failed:\n{''.join(failed)}")
        log.info("All tests have passed")

    def _matches(self, bounds: dict[str, Any], result: Any) -> bool:
        if result is None and self.accept_none:
            result = 0
        if result is None:
            return False
        return within(result, bounds)


def within(value: Any, bounds: dict[str, Any]) -> bool:
    """Whether ``value`` meets ``bounds`` (see ``SQLColumnCheckOperator``); a
    ``tolerance`` moves each bound outwards by that fraction of its size.

    >>> within(95, {"equal_to": 100, "tolerance": 0.1}), within(5, {"greater_than": 5})
    (True, False)
    """
    tolerance = bounds.get("tolerance")

    def low(bound: Any) -> Any:
        return bound if tolerance is None else bound - abs(bound) * tolerance

    def high(bound: Any) -> Any:
        return bound if tolerance is None else bound + abs(bound) * tolerance

    ok = True
    if "geq_to" in bounds:
        ok = value >= low(bounds["geq_to"])
    elif "greater_than" in bounds:
        ok = value > low(bounds["greater_than"])
    if "leq_to" in bounds:
        ok = ok and value <= high(bounds["leq_to"])
    elif "less_than" in bounds:
        ok = ok and value < high(bounds["less_than"])
    if "equal_to" in bounds:
        expected = bounds["equal_to"]
        ok = ok and (value == expected if tolerance is None
                     else low(expected) <= value <= high(expected))
    return ok


def bounds_problem(bounds: dict[str, Any]) -> str | None:
    """What is wrong with a column check's bounds, or ``None``.

    >>> bounds_problem({"greater_than": 5, "geq_to": 4})
    'give only one of greater_than and geq_to'
    """
    given = [name for name in BOUNDS if name in bounds]
    if not given:
        return f"give at least one of {', '.join(BOUNDS)}"
    for one, other in (("greater_than", "geq_to"), ("less_than", "leq_to")):
        if one in bounds and other in bounds:
            return f"give only one of {one} and {other}"
    if "equal_to" in bounds and len(given) > 1:
        return "equal_to cannot be combined with another bound (use geq_to and leq_to)"
    lower = next((name for name in ("greater_than", "geq_to") if name in bounds), None)
    upper = next((name for name in ("less_than", "leq_to") if name in bounds), None)
    if lower and upper:
        strict = lower == "greater_than" or upper == "less_than"
        if bounds[lower] > bounds[upper] or (strict and bounds[lower] == bounds[upper]):
            return f"{lower}={bounds[lower]!r} and {upper}={bounds[upper]!r} leave no value"
    return None


class SQLTableCheckOperator(BaseSQLOperator):
    """Checks boolean SQL conditions over the rows of ``table``.

    ``checks`` maps a name to ``{"check_statement": ..., "partition_clause": ...}``;
    a statement is an aggregate condition (``COUNT(*) > 1000``) or a row-level one
    (``price >= 0``), which must hold on every row. An empty result fails the
    task unless ``accept_none``; a check that is NULL (no rows to look at) fails
    too unless ``accept_none``.
    """

    template_fields = ("table", "partition_clause", "sql", *BaseSQLOperator.template_fields)

    def __init__(self, *, table: str, checks: dict[str, dict[str, Any]],
                 partition_clause: str | None = None, conn_id: str | None = None,
                 database: str | None = None, accept_none: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, database=database, **kwargs)
        if not checks:
            raise DagDefinitionError(f"{self._where('checks')} names no check")
        for name, check in checks.items():
            if not isinstance(check, dict) or not check.get("check_statement"):
                raise DagDefinitionError(
                    f"{self._where(f'checks[{name!r}]')} needs a 'check_statement'")
        self.table = table
        self.checks = copy.deepcopy(checks)
        self.partition_clause = check_partition_clause(self, partition_clause)
        self.accept_none = accept_none
        selects = [
            f"SELECT '{name}' AS check_name, MIN({name}) AS check_result FROM (SELECT CASE "
            f"WHEN {check['check_statement']} THEN 1 ELSE 0 END AS {name} FROM {table} "
            f"{where(partition_clause, check.get('partition_clause'))}) AS sq"
            for name, check in self.checks.items()]
        self.sql = (f"SELECT check_name, check_result FROM ({' UNION ALL '.join(selects)}) "
                    f"AS check_table")

    def execute(self, context: dict[str, Any]) -> None:
        records = self.get_db_hook().get_records(self.sql)
        if not records:
            if self.accept_none:
                log.warning("No records found for table %s; accept_none=True, so no check "
                            "fails", self.table)
                return
            self._raise_exception(f"The following query returned zero rows: {self.sql}")
        log.info("Record:\n%s", records)
        for name, result in records:
            check = self.checks[name]
            check["result"] = str(result)
            check["success"] = (self.accept_none if result is None
                                else parse_boolean(str(result)))
        failed = [f"\tCheck: {name},\n\tCheck Values: {check}\n"
                  for name, check in self.checks.items() if not check.get("success")]
        if failed:
            self._raise_exception(f"Test failed.\nQuery:\n{self.sql}\nResults:\n{records!s}\n"
                                  f"The following tests have failed:\n{', '.join(failed)}")
        log.info("All tests have passed")
