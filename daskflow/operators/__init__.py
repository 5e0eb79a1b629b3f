"""Ready-made operators."""

from daskflow.operators.bash import BashOperator
from daskflow.operators.empty import EmptyOperator
from daskflow.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator

__all__ = [
    "BashOperator",
    "BranchPythonOperator",
    "EmptyOperator",
    "PythonOperator",
    "ShortCircuitOperator",
]
