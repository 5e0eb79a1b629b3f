"""daskflow: Airflow-style workflows that run as Dask graphs.

The public API, and nothing else::

    from daskflow import DAG, dag, task, task_group, TaskGroup, TriggerRule, chain
    from daskflow import Connection, Variable
    from daskflow import mask_secret
    from daskflow import trigger        # queue a run for a running scheduler
"""

from daskflow.models.context import get_current_context
from daskflow.models.dag import DAG, dag
from daskflow.models.dependencies import chain, cross_downstream
from daskflow.models.state import DagRunState, TaskInstanceState
from daskflow.models.taskflow import task
from daskflow.models.taskgroup import TaskGroup, task_group
from daskflow.models.trigger_rules import TriggerRule
from daskflow.secrets import Connection, Variable
from daskflow.secrets.masking import mask_secret

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # trigger needs the store and the execution layer: imported when first used, so
    # that a DAG file's `import daskflow` stays free of Dask and SQLAlchemy.
    if name == "trigger":
        from daskflow.api.trigger import trigger

        return trigger
    raise AttributeError(f"module 'daskflow' has no attribute {name!r}")


__all__ = [
    "DAG",
    "Connection",
    "DagRunState",
    "TaskGroup",
    "TaskInstanceState",
    "TriggerRule",
    "Variable",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "mask_secret",
    "task",
    "task_group",
    "trigger",
]
