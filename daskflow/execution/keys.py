"""The Dask key of a task instance.

A key reads ``<dag_id>.<task_id>-<token>`` so that Dask's task stream and
progress bars group by task; ``token`` is unique per submission of a run,
and mapped instances add ``-<map_index>`` after it and share their task's
prefix.
"""

from __future__ import annotations


def task_key(dag_id: str, task_id: str, token: str, map_index: int = -1) -> str:
    """The Dask key of one task instance in one submission of a run.

    >>> task_key("etl", "extract", "3fa85f64")
    'etl.extract-3fa85f64'
    >>> task_key("etl", "load", "3fa85f64", 2)
    'etl.load-3fa85f64-2'
    """
    base = f"{dag_id}.{task_id}-{token}"
    return base if map_index < 0 else f"{base}-{map_index}"
