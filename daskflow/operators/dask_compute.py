"""``DaskPythonOperator`` (``@task.dask``): a Python task that computes on the DAG's cluster.

The callable may build Dask collections (``dask.dataframe``, ``dask.array``,
``dask.bag``, ``dask.delayed``) and compute them itself (``.compute()``,
``dask.compute``, ``dask.persist``) or return them uncomputed: a returned
collection, or a list, tuple or dict of them, is computed and the computed
value is the task's return value.

Either way the work runs on the cluster the task runs on. The task's worker
thread first leaves the worker's thread pool (``distributed.worker_client``
secedes it), so the pieces of the computation can run even on a worker
with a single thread, the task's own; it rejoins the pool when the task ends.

``execution_timeout`` is enforced inside the task: the callable runs in a
thread of its own, and when the time is up it is interrupted and the
computations it started are cancelled, so the task fails with the same
timeout error as other tasks. Dask cannot stop a piece of work that a
worker is already running: such a piece still holds its worker thread
until it returns.

Dask is imported only when the task runs, so that the authoring model stays
importable without it. Outside a Dask worker (``daskflow tasks test`` runs the task in its own
process) collections are computed with Dask's default scheduler.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from daskflow.exceptions import TaskTimeout
from daskflow.operators.python import PythonOperator


class DaskPythonOperator(PythonOperator):
    """Call ``python_callable`` with a Dask client at hand; compute what it returns."""

    ui_color = "#fde7d7"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The node would run execute() in a thread that cannot leave the worker's
        # pool; the timeout is enforced in execute() instead (see the module doc).
        self.compute_timeout: timedelta | None = self.execution_timeout
        self.execution_timeout = None

    def execute(self, context: dict[str, Any]) -> Any:
        with _client() as client:
            if self.compute_timeout is None:
                return self._call(context, client)
            return self._call_with_timeout(context, client)

    def _call(self, context: dict[str, Any], client: Any) -> Any:
        import dask

        value = super().execute(context)
        if not _has_collections(value):
            return value
        if client is None:
            return dask.compute(value)[0]
        return dask.compute(value, scheduler=client.get)[0]

    def _call_with_timeout(self, context: dict[str, Any], client: Any) -> Any:
        result: dict[str, Any] = {}
        run_in_context = contextvars.copy_context().run

        def target() -> None:
            try:
                result["value"] = run_in_context(self._call, context, client)
            except BaseException as exc:  # handed back to the task's thread below
                result["error"] = exc

        seconds = self.compute_timeout.total_seconds()
        thread = threading.Thread(target=target, name=f"daskflow-dask-{self.task_id}",
                                  daemon=True)
        before = _own_futures(client)
        thread.start()
        thread.join(seconds)
        if thread.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                       ctypes.py_object(TaskTimeout))
            _cancel(client, _own_futures(client) - before)
            thread.join(1.0)
            raise TaskTimeout(f"task {self.task_id!r} timed out after {seconds:g}s "
                              "(execution_timeout)")
        if "error" in result:
            raise result["error"]
        return result.get("value")


@contextlib.contextmanager
def _client() -> Iterator[Any]:
    """The worker's client with this thread seceded, or ``None`` outside a worker."""
    from distributed import get_worker, worker_client

    try:
        get_worker()
    except ValueError:
        yield None
        return
    with worker_client() as client:
        yield client


def _own_futures(client: Any) -> set[Any]:
    """The keys the client holds futures for."""
    return set() if client is None else set(list(client.futures))


def _cancel(client: Any, keys: set[Any]) -> None:
    """Cancel what a timed-out callable left computing (best effort: it may be done)."""
    if client is None or not keys:
        return
    from distributed import Future

    try:
        client.cancel([Future(key, client) for key in keys])
    except Exception as exc:  # the task fails with its timeout either way
        print(f"WARNING: could not cancel the task's computations: {exc}")


def _has_collections(value: Any) -> bool:
    """Whether ``value`` is a Dask collection or holds one in a list, tuple, set or dict."""
    from dask import is_dask_collection

    if is_dask_collection(value):
        return True
    if isinstance(value, dict):
        return any(_has_collections(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_has_collections(v) for v in value)
    return False
