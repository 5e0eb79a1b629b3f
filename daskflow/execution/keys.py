"""The Dask key of a task instance, and why it is named the way it is.

Dask's dashboard groups and colours tasks by the key *prefix*
(``dask.utils.key_split``: the key up to its first word that is not a plain
word), so the prefix is what a user reads in the task stream and the
progress bars. A key reads ``<dag_id>.<task_id>-<token>``: one prefix per
task, ``token`` unique per submission of a run, and mapped instances add
``-<map_index>`` after it, so they share their task's prefix.

A prefix per task has a price on wide DAGs. The Dask scheduler estimates
each worker's occupancy by looping over the prefixes that worker is
processing, on every task transition, so a DAG with a thousand task ids
ready at once costs it quadratic work (docs/performance.md measures it).
A DAG whose widest level - the most tasks at one distance from the roots,
a mapped task counting once - holds more than
``daskflow.key-prefix-max-width`` tasks therefore shares one prefix,
``<dag_id>.*``: its keys read ``<dag_id>.*-<token>-<task_id>`` (and
``-<map_index>``), still naming the task in full, while the dashboard shows
one progress bar and one colour for the whole DAG, as it would for a
thousand chunks of one array.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: What stands for the task id in the prefix of a DAG too wide for a prefix per task.
SHARED = "*"


@dataclass(frozen=True)
class KeyNames:
    """How the keys of one submission of one DAG run are named.

    >>> KeyNames("etl", "3fa85f64").key("extract")
    'etl.extract-3fa85f64'
    >>> KeyNames("etl", "3fa85f64").key("load", 2)
    'etl.load-3fa85f64-2'
    >>> KeyNames("wide", "3fa85f64", shared_prefix=True).key("t0042")
    'wide.*-3fa85f64-t0042'
    """

    dag_id: str
    token: str
    #: One prefix for the whole DAG (``<dag_id>.*``) instead of one per task.
    shared_prefix: bool = False

    def key(self, task_id: str, map_index: int = -1) -> str:
        if self.shared_prefix:
            base = f"{self.dag_id}.{SHARED}-{self.token}-{task_id}"
        else:
            base = f"{self.dag_id}.{task_id}-{self.token}"
        return base if map_index < 0 else f"{base}-{map_index}"


def task_key(dag_id: str, task_id: str, token: str, map_index: int = -1) -> str:
    """The Dask key of one task instance of a DAG with a prefix per task.

    >>> task_key("etl", "extract", "3fa85f64")
    'etl.extract-3fa85f64'
    """
    return KeyNames(dag_id, token).key(task_id, map_index)


def widest_level(upstream: Mapping[str, Iterable[str]]) -> int:
    """The most tasks at one depth (longest distance from a root) of a task graph.

    ``upstream`` maps every task id to its upstream task ids. Tasks at one
    depth cannot depend on each other, so this many may be ready at once.

    >>> widest_level({"root": [], "a": ["root"], "b": ["root"], "sink": ["a", "b"]})
    2
    >>> widest_level({"a": [], "b": ["a"], "c": ["b"]})
    1
    """
    depth: dict[str, int] = {}

    def depth_of(task_id: str) -> int:
        # Iterative, so a chain of thousands of tasks does not hit the recursion limit.
        stack = [task_id]
        while stack:
            current = stack[-1]
            pending = [u for u in upstream[current] if u not in depth]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depth[current] = 1 + max((depth[u] for u in upstream[current]), default=-1)
        return depth[task_id]

    counts: dict[int, int] = {}
    for task_id in upstream:
        level = depth_of(task_id)
        counts[level] = counts.get(level, 0) + 1
    return max(counts.values(), default=0)


def key_names_for(dag: object, token: str, max_width: int) -> KeyNames:
    """The key naming of a run of ``dag``: a shared prefix past ``max_width`` tasks at a level.

    ``max_width`` of 0 or less gives every DAG a prefix per task.
    """
    tasks = dag.task_dict  # type: ignore[attr-defined]
    wide = max_width > 0 and len(tasks) > max_width and widest_level(
        {t: task.upstream_task_ids for t, task in tasks.items()}) > max_width
    return KeyNames(dag.dag_id, token, shared_prefix=wide)  # type: ignore[attr-defined]
