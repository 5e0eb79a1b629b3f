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
