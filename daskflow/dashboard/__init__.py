"""daskflow's pages inside the Dask scheduler's dashboard (Bokeh), and its metrics.

Every page is a module with ``PATH``, ``TITLE`` and a Bokeh document function
``document(scheduler, extra, doc)`` (``pages.py`` lists them); the pages read
the metadata store named by ``daskflow.db`` (``store_access.py``) and the
scheduler's live state. Bokeh is imported only here.

Paths (query arguments in brackets): ``/daskflow/dags``,
``/daskflow/grid?dag_id``, ``/daskflow/graph?dag_id[&run_id]``,
``/daskflow/gantt?dag_id&run_id``,
``/daskflow/task?dag_id&run_id&task_id[&map_index]``,
``/daskflow/code?dag_id[&run_id]``; ``style.py`` holds the state colours and
reads query arguments.
"""

from __future__ import annotations

from typing import Any


def dask_setup(scheduler: Any) -> None:
    """Mount daskflow's pages on a scheduler started with ``--preload daskflow.dashboard``.

    Dask calls this once the scheduler exists; the pages read the store that
    ``daskflow.db`` (or ``DASKFLOW_DB``) names in that scheduler's environment.
    """
    from daskflow.dashboard.mounting import mount_on

    mount_on(scheduler)


def dask_teardown(scheduler: Any) -> None:
    """Take daskflow's metrics off the scheduler's ``/metrics`` as it closes."""
    from daskflow.dashboard.metrics import uninstall

    uninstall(scheduler)
