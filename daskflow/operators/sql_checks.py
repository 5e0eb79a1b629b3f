"""Data quality checks on one query's result: Airflow's common.sql check operators.

- ``SQLCheckOperator``: every value of the first row must be true;
- ``SQLValueCheckOperator``: every value of the first row equals ``pass_value``
  (within ``tolerance``, a fraction, when both are numbers);
- ``SQLThresholdCheckOperator``: the first value lies between ``min_threshold``
  and ``max_threshold``, each a number or a query giving one;
- ``SQLIntervalCheckOperator``: metrics of the run's day (``ds``) compared with
  the same metrics ``days_back`` days earlier, each ratio under its threshold.

A check that fails raises :class:`~daskflow.operators.sql_base.SQLCheckError`
(retried as ``retries`` say; with ``retry_on_failure=False`` the task fails at
once) whose message gives the query and the values it returned; a query that
returns no row fails the same way. The tables, SQL column and table checks are
in ``sql_table_checks.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from daskflow.exceptions import DagDefinitionError
from daskflow.operators.sql_base import BaseSQLOperator, float_or_text

log = logging.getLogger(__name__)

#: How ``SQLIntervalCheckOperator`` compares today's metric with the past one.
RATIO_FORMULAS: dict[str, Any] = {
    "max_over_min": lambda current, past: max(current, past) / min(current, past),
    "relative_diff": lambda current, past: abs(current - past) / past,
}


class SQLCheckOperator(BaseSQLOperator):
    """Fails unless each value of the query's first row is true (``bool()``): a count of
    0, an empty string, NULL or false fails it, and so does no row at all."""

    template_fields = ("sql", *BaseSQLOperator.template_fields)
    template_ext = (".hql", ".sql")
    ui_color = "#fff7e6"

    def __init__(self, *, sql: str, conn_id: str | None = None, database: str | None = None,
                 parameters: Iterable[Any] | Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, database=database, **kwargs)
        self.sql = sql
        self.parameters = parameters

    def execute(self, context: dict[str, Any]) -> None:
        log.info("Executing SQL check: %s", self.sql)
        record = self.get_db_hook().get_first(self.sql, self.parameters)
        log.info("Record: %s", record)
        if not record:
            self._raise_exception(f"The following query returned zero rows: {self.sql}")
        values = record.values() if isinstance(record, Mapping) else record
        if not all(values):
            self._raise_exception(f"Test failed.\nQuery:\n{self.sql}\nResults:\n{record!s}")
        log.info("Success.")


class SQLValueCheckOperator(BaseSQLOperator):
    """Fails unless every value of the query's first row equals ``pass_value``.

    When ``pass_value`` reads as a number the values are compared as numbers,
    within ``tolerance`` (a fraction of ``pass_value``: ``0.1`` accepts 90 to 110
    for 100); otherwise as text.
    """

    template_fields = ("sql", "pass_value", *BaseSQLOperator.template_fields)
    template_ext = (".hql", ".sql")
    ui_color = "#fff7e6"

    def __init__(self, *, sql: str, pass_value: Any, tolerance: Any = None,
                 conn_id: str | None = None, database: str | None = None,
                 parameters: Iterable[Any] | Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, database=database, **kwargs)
        self.sql = sql
        self.pass_value = str(pass_value)
        tolerance = float_or_text(tolerance)
        self.tol = tolerance if isinstance(tolerance, float) else None
        self.has_tolerance = self.tol is not None
        self.parameters = parameters

    def execute(self, context: dict[str, Any]) -> None:
        log.info("Executing SQL check: %s", self.sql)
        self.check_value(self.get_db_hook().get_first(self.sql, self.parameters))

    def check_value(self, records: Any) -> None:
        """Raise the check's error unless ``records`` (the first row) all pass."""
        if not records:
            self._raise_exception(f"The following query returned zero rows: {self.sql}")
        expected = float_or_text(self.pass_value)
        tolerance = f"{self.tol:.1%}" if self.tol is not None else None
        message = (f"Test failed.\nPass value:{expected}\nTolerance:{tolerance}\n"
                   f"Query:\n{self.sql}\nResults:\n{records!s}")
        if not isinstance(expected, float):
            passed = [str(value) == expected for value in records]
        else:
            try:
                numbers = [float(value) for value in records]
            except (TypeError, ValueError):
                self._raise_exception(f"Converting a result to float failed.\n{message}")
            if self.tol is None:
                passed = [number == expected for number in numbers]
            else:
                margin = abs(expected) * self.tol
                passed = [expected - margin <= number <= expected + margin
                          for number in numbers]
        if not all(passed):
            self._raise_exception(message)


class SQLThresholdCheckOperator(BaseSQLOperator):
    """Fails unless the query's first value lies between ``min_threshold`` and
    ``max_threshold`` (both included). Each threshold is a number, or SQL whose
    first value is the bound."""

    template_fields = ("sql", "min_threshold", "max_threshold",
                       *BaseSQLOperator.template_fields)
    template_ext = (".hql", ".sql")

    def __init__(self, *, sql: str, min_threshold: Any, max_threshold: Any,
                 conn_id: str | None = None, database: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, database=database, **kwargs)
        self.sql = sql
        self.min_threshold = min_threshold
        self.max_threshold = max_threshold

    def execute(self, context: dict[str, Any]) -> None:
        hook = self.get_db_hook()
        row = hook.get_first(self.sql)
        if not row:
            self._raise_exception(f"The following query returned zero rows: {self.sql}")
        result = row[0]
        lower = self._bound(hook, self.min_threshold)
        upper = self._bound(hook, self.max_threshold)
        within = result is not None and lower <= result <= upper
        self.push({"result": result, "task_id": self.task_id, "min_threshold": lower,
                   "max_threshold": upper, "within_threshold": within})
        if not within:
            shown = round(result, 2) if result is not None else "<None>"
            self._raise_exception(
                f'Threshold Check: "{self.task_id}" failed.\nDAG: {self.dag_id}\n'
                f"Task_id: {self.task_id}\nSQL: {self.sql}\n"
                f"Result: {shown} is not within thresholds {lower} and {upper}")
        log.info("Test %s Successful.", self.task_id)

    def _bound(self, hook: Any, threshold: Any) -> Any:
        value = float_or_text(threshold)
        if isinstance(value, float):
            return value
        row = hook.get_first(value)
        if not row:
            self._raise_exception(f"The following query returned zero rows: {value}")
        return row[0]

    def push(self, meta_data: dict[str, Any]) -> None:
        """Report the check's figures; logs them (Airflow's hook for sending them on)."""
        log.info("Log from %s:\n%s", self.dag_id,
                 "\n".join(f"{key}: {value}" for key, value in meta_data.items()))


class SQLIntervalCheckOperator(BaseSQLOperator):
    """Compares metrics (SQL expressions, e.g. ``COUNT(*)``) of the rows of ``table``
    whose ``date_filter_column`` is the run's ``ds`` with those of ``days_back`` days
    earlier: each ratio (``ratio_formula``) must stay under its threshold in
    ``metrics_thresholds``. A metric that is 0 on either day passes when
    ``ignore_zero`` (the default), and fails otherwise.
    """

    template_fields = ("sql1", "sql2", *BaseSQLOperator.template_fields)
    template_ext = (".hql", ".sql")
    ui_color = "#fff7e6"
    ratio_formulas: ClassVar[dict[str, Any]] = RATIO_FORMULAS

    def __init__(self, *, table: str, metrics_thresholds: dict[str, float],
                 date_filter_column: str | None = "ds", days_back: int = -7,
                 ratio_formula: str | None = "max_over_min", ignore_zero: bool = True,
                 conn_id: str | None = None, database: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, database=database, **kwargs)
        if ratio_formula not in RATIO_FORMULAS:
            raise DagDefinitionError(
                f"{self._where('ratio_formula')} {ratio_formula!r} is not one of "
                f"{', '.join(RATIO_FORMULAS)}")
        if not metrics_thresholds:
            raise DagDefinitionError(f"{self._where('metrics_thresholds')} names no metric")
        if not date_filter_column:
            raise DagDefinitionError(f"{self._where('date_filter_column')} is required")
        self.table = table
        self.metrics_thresholds = dict(metrics_thresholds)
        self.metrics_sorted = sorted(self.metrics_thresholds)
        self.date_filter_column = date_filter_column
        self.days_back = -abs(days_back)
        self.ratio_formula = ratio_formula
        self.ignore_zero = ignore_zero
        select = (f"SELECT {', '.join(self.metrics_sorted)} FROM {table} "
                  f"WHERE {date_filter_column}=")
        self.sql1 = select + "'{{ ds }}'"
        self.sql2 = select + f"'{{{{ macros.ds_add(ds, {self.days_back}) }}}}'"

    @property
    def sql(self) -> list[str]:
        return [self.sql1, self.sql2]

    def execute(self, context: dict[str, Any]) -> None:
        hook = self.get_db_hook()
        log.info("Using ratio formula: %s", self.ratio_formula)
        past_row = hook.get_first(self.sql2)
        current_row = hook.get_first(self.sql1)
        if not past_row:
            self._raise_exception(f"The following query returned zero rows: {self.sql2}")
        if not current_row:
            self._raise_exception(f"The following query returned zero rows: {self.sql1}")
        results = [self._compare(metric, current, past) for metric, current, past
                   in zip(self.metrics_sorted, current_row, past_row, strict=True)]
        failed = [result for result in results if not result["success"]]
        if failed:
            details = "; ".join(f"{result['metric']}: {result}" for result in failed)
            self._raise_exception(
                f"The following tests have failed:\n {details}\n"
                f"Queries:\n{self.sql1}\n{self.sql2}")
        log.info("All tests have passed")

    def _compare(self, metric: str, current: Any, past: Any) -> dict[str, Any]:
        threshold = self.metrics_thresholds[metric]
        result = {"metric": metric, "current_metric": current, "past_metric": past,
                  "threshold": threshold, "ignore_zero": self.ignore_zero}
        if current is None or past is None:
            result.update(ratio=None, success=False)
        elif current == 0 or past == 0:
            result.update(ratio=None, success=self.ignore_zero)
        else:
            ratio = RATIO_FORMULAS[self.ratio_formula](current, past)
            result.update(ratio=ratio, success=ratio < threshold)
        log.info("Metric %s: current %s, past %s, ratio %s, threshold %s", metric, current,
                 past, result["ratio"], threshold)
        return result
