"""Pools and concurrency limits that hold across the whole cluster.

Each limit is a ``distributed.Semaphore`` on the Dask scheduler, so it counts
every run, DAG and loop that uses the cluster:

* a pool's slots (``pool``, ``pool_slots``), shared by every DAG;
* ``max_active_tis_per_dag``: running instances of one task over all runs of
  its DAG;
* ``max_active_tis_per_dagrun``: running instances of one (mapped) task in
  one run;
* ``max_active_tasks``: running task instances of one run of the DAG (per
  run since Airflow 3; Airflow 2 counted all runs of the DAG).

A node takes its slots before it runs (its worker slot is given up with
``secede`` while it waits, so a full pool never blocks other tasks) and gives
them back when it ends. Limits are taken in one fixed order, narrowest first
(the task's in its run, the task's in its DAG, the run's, then the pool's),
and a multi-slot request takes its slots under a lock, so two tasks never
deadlock each holding part of what the other needs, and a task waiting for
its own limit holds no pool slot.

The loop registers and resizes the semaphores on the scheduler
(``register``) and forgets a run's own ones when the run ends (``forget``).
A pool or ``max_active_tasks`` is only attached to a task when it can bind,
i.e. it is smaller than the cluster's thread count or asks for several slots,
so the common case costs nothing; a task's own limits, set on purpose, are
always attached (the cluster may grow).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("daskflow.execution")


@dataclass(frozen=True)
class Limit:
    """``need`` of the ``slots`` of semaphore ``name``; ``of_run``: it lives as long as a run."""

    name: str
    slots: int
    need: int = 1
    of_run: bool = False


def pool_limit(pool: str, slots: int, need: int) -> Limit:
    return Limit(f"daskflow-pool-{pool}", slots, need)


def run_limit(dag_id: str, run_id: str, max_active_tasks: int) -> Limit:
    return Limit(f"daskflow-run-{dag_id}-{run_id}", max_active_tasks, 1, of_run=True)


def task_limit(dag_id: str, task_id: str, max_active_tis_per_dag: int) -> Limit:
    return Limit(f"daskflow-task-{dag_id}-{task_id}", max_active_tis_per_dag, 1)


def task_run_limit(dag_id: str, run_id: str, task_id: str, max_active_tis_per_dagrun: int
                   ) -> Limit:
    return Limit(f"daskflow-task-run-{dag_id}-{run_id}-{task_id}", max_active_tis_per_dagrun,
                 1, of_run=True)


def _register_on_scheduler(dask_scheduler: Any, sizes: dict[str, int]) -> None:
    extension = dask_scheduler.extensions["semaphores"]
    for name, slots in sizes.items():
        extension.max_leases[name] = slots
        extension.lease_timeouts.setdefault(name, None)


def _forget_on_scheduler(dask_scheduler: Any, names: list[str]) -> None:
    extension = dask_scheduler.extensions["semaphores"]
    for name in names:
        for table in (extension.max_leases, extension.leases, extension.events,
                      extension.lease_timeouts, *extension.metrics.values()):
            table.pop(name, None)


def register(client: Any, limits: list[Limit]) -> None:
    """Create or resize the limits' semaphores on the Dask scheduler (one call)."""
    sizes = {limit.name: limit.slots for limit in limits}
    if sizes:
        client.run_on_scheduler(_register_on_scheduler, sizes=sizes)


def forget(client: Any, planned: dict[str, tuple | str]) -> None:
    """Drop the semaphores of a finished run (from :func:`plan`) from the Dask scheduler.

    Pools and per-DAG task limits stay: other runs share them.
    """
    names = sorted({limit.name for found in planned.values() if isinstance(found, tuple)
                    for limit in found if limit.of_run})
    if not names:
        return
    try:
        client.run_on_scheduler(_forget_on_scheduler, names=names)
    except Exception:  # a closed client or a restarted scheduler: nothing left to forget
        logger.debug("could not drop the semaphores %s", names, exc_info=True)


def plan(dag: Any, pools: dict[str, int] | None, threads: int, run_id: str = "test"
         ) -> dict[str, tuple | str]:
    """Per task: the limits that can bind on a cluster of ``threads``, or why it cannot run.

    ``pools`` maps pool names to slots (``None``: pools are not enforced, as
    when no store is at hand). ``run_id`` names the run's own semaphores.
    """
    planned: dict[str, tuple | str] = {}
    for task in dag.tasks:
        found: list[Limit] = []
        if task.is_mapped and getattr(task, "max_active_tis_per_dagrun", None) is not None:
            found.append(task_run_limit(dag.dag_id, run_id, task.task_id,
                                        task.max_active_tis_per_dagrun))
        if getattr(task, "max_active_tis_per_dag", None) is not None:
            found.append(task_limit(dag.dag_id, task.task_id, task.max_active_tis_per_dag))
        if dag.max_active_tasks < threads:
            found.append(run_limit(dag.dag_id, run_id, dag.max_active_tasks))
        problem = _pool_problem(dag, task, pools)
        if problem is None and pools is not None:
            slots = pools[task.pool]
            if slots < threads or task.pool_slots > 1:
                found.append(pool_limit(task.pool, slots, task.pool_slots))
        planned[task.task_id] = problem if problem else tuple(found)
    return planned


def _pool_problem(dag: Any, task: Any, pools: dict[str, int] | None) -> str | None:
    if pools is None:
        return None
    slots = pools.get(task.pool)
    where = f"DAG {dag.dag_id!r} task {task.task_id!r}"
    if slots is None:
        return (f"{where}: pool {task.pool!r} does not exist; create it with "
                f"`daskflow pools set {task.pool} SLOTS`")
    if task.pool_slots > slots:
        return f"{where} needs {task.pool_slots} slots of pool {task.pool!r}, which has {slots}"
    return None


@contextmanager
def held(limits: tuple[Limit, ...]) -> Iterator[None]:
    """Hold the limits' slots for the duration of the block (inside a Dask task)."""
    if not limits:
        yield
        return
    from distributed import Lock, Semaphore, rejoin, secede

    taken: list[Any] = []
    secede()
    try:
        for limit in limits:
            semaphore = Semaphore(max_leases=limit.slots, name=limit.name)
            semaphore._registered = True  # the loop registered (and sized) it: register()
            if limit.need == 1:
                semaphore.acquire()
                taken.append(semaphore)
                continue
            with Lock(f"{limit.name}-multi"):
                for _ in range(limit.need):
                    semaphore.acquire()
                    taken.append(semaphore)
    except BaseException:
        for semaphore in reversed(taken):
            semaphore.release()
        raise
    finally:
        rejoin()
    try:
        yield
    finally:
        for semaphore in reversed(taken):
            semaphore.release()
