"""From task instances to Dask keys and graph pieces.

A run's graph is built directly as a ``{key: Task}`` dict (building it with
``dask.delayed`` is quadratic for long chains: each call merges its upstream graph) and
submitted in one call; keys are named by ``execution/keys.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dask._task_spec import List, Task, TaskRef

from daskflow.execution.node import NodeSpec, run_node
from daskflow.execution.run_payload import NodeRef


def node_task(key: str, spec: NodeSpec | NodeRef,
              upstream_keys: Mapping[str, Sequence[str] | str]) -> Task:
    """A graph node running ``spec`` (or the spec ``NodeRef`` points to) on the outcomes
    of ``upstream_keys``.

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
