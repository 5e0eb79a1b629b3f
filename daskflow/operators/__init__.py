"""Ready-made operators."""

from daskflow.operators.bash import BashOperator
from daskflow.operators.dask_compute import DaskPythonOperator
from daskflow.operators.datetime import BranchDateTimeOperator
from daskflow.operators.empty import EmptyOperator
from daskflow.operators.generic_transfer import GenericTransfer
from daskflow.operators.latest_only import LatestOnlyOperator
from daskflow.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator
from daskflow.operators.sql import (
    BranchSQLOperator,
    SQLCheckOperator,
    SQLColumnCheckOperator,
    SQLExecuteQueryOperator,
    SQLIntervalCheckOperator,
    SQLTableCheckOperator,
    SQLThresholdCheckOperator,
    SQLValueCheckOperator,
)
from daskflow.operators.trigger_dagrun import TriggerDagRunOperator
from daskflow.operators.weekday import BranchDayOfWeekOperator, WeekDay

__all__ = [
    "BashOperator",
    "BranchDateTimeOperator",
    "BranchDayOfWeekOperator",
    "BranchPythonOperator",
    "BranchSQLOperator",
    "DaskPythonOperator",
    "EmptyOperator",
    "GenericTransfer",
    "LatestOnlyOperator",
    "PythonOperator",
    "SQLCheckOperator",
    "SQLColumnCheckOperator",
    "SQLExecuteQueryOperator",
    "SQLIntervalCheckOperator",
    "SQLTableCheckOperator",
    "SQLThresholdCheckOperator",
    "SQLValueCheckOperator",
    "ShortCircuitOperator",
    "TriggerDagRunOperator",
    "WeekDay",
]
