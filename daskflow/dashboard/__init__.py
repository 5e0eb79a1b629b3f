"""daskflow's pages inside the Dask scheduler's dashboard (Bokeh), and its metrics.

Every page is a module with ``PATH``, ``TITLE`` and a Bokeh document function
``document(scheduler, extra, doc)`` (``pages.py`` lists them); the pages read
the metadata store named by ``daskflow.db`` (``store_access.py``) and the
scheduler's live state. Bokeh is imported only here.
"""
