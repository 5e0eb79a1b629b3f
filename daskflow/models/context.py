"""What a running task knows about itself: the template context.

The execution layer builds a :class:`DagRunInfo` once per run and a
:class:`RuntimeTaskInstance` per attempt, then calls :func:`build_context`.
The keys are Airflow's (``ds``, ``ts``, ``logical_date``, ``ti``, ``params``,
``dag_run``, ``macros``, ...), so templates and ``**context`` callables written
for Airflow read the same values. ``get_current_context()`` returns the
context of the task running in the calling thread.
"""

from __future__ import annotations

import contextvars
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from daskflow.models.xcom_arg import RETURN_VALUE

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "daskflow_context", default=None
)


@dataclass(frozen=True)
class DagRunInfo:
    """The run as a task sees it (Airflow's ``dag_run`` in the context)."""

    dag_id: str
    run_id: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    run_type: str = "manual"
    conf: dict[str, Any] = field(default_factory=dict)
    start_date: datetime | None = None
    external_trigger: bool = True


class RuntimeTaskInstance:
    """``ti`` in the context: who this attempt is, and XCom push/pull.

    ``xcom_pull`` reads the outputs of this task's direct upstream tasks, which
    Dask handed to the node; daskflow does not fetch values from the database
    during a run (docs/concepts.md, "XComs travel through Dask memory").
    """

    def __init__(self, *, task: Any, run: DagRunInfo, try_number: int, max_tries: int,
                 map_index: int = -1, hostname: str = "", upstream_xcoms: dict | None = None):
        self.task = task
        self.task_id = task.task_id
        self.dag_id = run.dag_id
        self.run_id = run.run_id
        self.logical_date = run.logical_date
        self.try_number = try_number
        self.max_tries = max_tries
        self.map_index = map_index
        self.hostname = hostname
        self.state = "running"
        self._upstream = upstream_xcoms or {}
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str | list[str] | None = None, key: str = RETURN_VALUE,
                  map_indexes: Any = None, default: Any = None) -> Any:
        if task_ids is None:
            task_ids = sorted(self._upstream)
        single = isinstance(task_ids, str)
        values = [self._pull_one(t, key, default) for t in ([task_ids] if single else task_ids)]
        return values[0] if single else values

    def _pull_one(self, task_id: str, key: str, default: Any) -> Any:
        if task_id not in self._upstream:
            from daskflow.exceptions import DaskflowError

            raise DaskflowError(
                f"task {self.task_id!r} pulled an XCom of {task_id!r}, which is not its direct "
                f"upstream task; daskflow passes XComs along the DAG's edges, so add "
                f"{task_id!r} >> {self.task_id!r}"
            )
        xcoms = self._upstream[task_id]
        return xcoms.get(key, default) if isinstance(xcoms, dict) else default

    def __repr__(self) -> str:
        return f"<TaskInstance {self.dag_id}.{self.task_id} {self.run_id} try {self.try_number}>"


def _ds_add(ds: str, days: int) -> str:
    return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def _ds_format(ds: str, input_format: str, output_format: str) -> str:
    return datetime.strptime(ds, input_format).strftime(output_format)


class _Macros:
    """``macros.*`` in templates."""

    ds_add = staticmethod(_ds_add)
    ds_format = staticmethod(_ds_format)
    datetime = datetime
    timedelta = timedelta
    time = time
    uuid = uuid
    random = random
    json = json


macros = _Macros()


#: Every name a task's context can hold: what :func:`build_context` returns, plus
#: ``templates_dict`` (PythonOperator) and ``exception`` (failure callbacks). A
#: ``@task`` function may take any of these as a parameter without a default.
CONTEXT_KEYS = frozenset({
    "conf", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds", "ds_nodash",
    "exception", "execution_date", "logical_date", "macros", "map_index", "params", "run_id",
    "task", "task_instance", "task_instance_key_str", "templates_dict", "test_mode", "ti",
    "tomorrow_ds", "try_number", "ts", "ts_nodash", "ts_nodash_with_tz", "yesterday_ds",
    "var", "conn",
})


def build_context(task: Any, run: DagRunInfo, ti: RuntimeTaskInstance,
                  dag: Any = None, lookups: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template context of one attempt of one task instance.

    ``lookups`` adds ``var`` and ``conn``: objects that read variables and
    connections when a template uses them, given by the execution layer so
    that this module reads no environment or store.
    """
    logical = run.logical_date
    params = {**(getattr(dag, "params", None) or {}), **(task.params or {}), **(run.conf or {})}
    return {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": run.run_id,
        "dag_run": run,
        "params": params,
        "conf": run.conf,
        "logical_date": logical,
        "execution_date": logical,
        "data_interval_start": run.data_interval_start,
        "data_interval_end": run.data_interval_end,
        "ds": logical.strftime("%Y-%m-%d"),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": logical.isoformat().replace("-", "").replace(":", ""),
        "yesterday_ds": (logical - timedelta(days=1)).strftime("%Y-%m-%d"),
        "tomorrow_ds": (logical + timedelta(days=1)).strftime("%Y-%m-%d"),
        "macros": macros,
        "task_instance_key_str": f"{run.dag_id}__{task.task_id}__{logical.strftime('%Y%m%d')}",
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "test_mode": False,
        **(lookups or {}),
    }


def get_current_context() -> dict[str, Any]:
    """The context of the task running in this thread (for TaskFlow functions).

    >>> get_current_context()
    Traceback (most recent call last):
    ...
    RuntimeError: get_current_context() was called outside a running daskflow task
    """
    context = _current.get()
    if context is None:
        raise RuntimeError("get_current_context() was called outside a running daskflow task")
    return context


def set_current_context(context: dict[str, Any] | None) -> contextvars.Token:
    return _current.set(context)


def reset_current_context(token: contextvars.Token) -> None:
    _current.reset(token)
