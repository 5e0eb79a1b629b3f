"""From task instances to Dask keys and graph pieces.

A run's graph is built directly as a ``{key: Task}`` dict (building it with
``dask.delayed`` is quadratic for long chains: each call merges its upstream graph) and
submitted in one call. A key reads ``<dag_id>.<task_id>-<token>`` so that
Dask's task stream and progress bars group by task; ``token`` is unique per
submission of a run, and mapped instances add ``-<map_index>`` after it and
share their task's prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dask._task_spec import List, Task, TaskRef

from daskflow.execution.node import NodeSpec, run_node


def task_key(dag_id: str, task_id: str, token: str, map_index: int = -1) -> str:
    """The Dask key of one task instance in one submission of a run.

    >>> task_key("etl", "extract", "3fa85f64")
    'etl.extract-3fa85f64'
    >>> task_key("etl", "load", "3fa85f64", 2)
    'etl.load-3fa85f64-2'
    """
    base = f"{dag_id}.{task_id}-{token}"
    return base if map_index < 0 else f"{base}-{map_index}"


def node_task(key: str, spec: NodeSpec, upstream_keys: Mapping[str, Sequence[str] | str]
              ) -> Task:
    """A graph node running ``spec`` on the outcomes of ``upstream_keys``.

    ``upstream_keys`` maps each upstream task id (in ``spec.upstream_ids``
    order) to its key, or to the list of its instances' keys when mapped.
    """
    args: list[Any] = []
    for task_id in spec.upstream_ids:
        keys = upstream_keys[task_id]
        if isinstance(keys, str):
            args.append(TaskRef(keys))
        else:
            args.append(List(*(TaskRef(k) for k in keys)))
    return Task(key, run_node, spec, *args)
