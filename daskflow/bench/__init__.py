"""``daskflow bench``: how a workflow's cost and speed change with the size of the cluster.

The suite runs each workload through daskflow (``dag.test`` against a
SQLite store, as a user's test run would) and, where the comparison means
something, as the same graph in plain Dask on the same cluster and in the
same process, so a ratio is measured side by side, not across days.

It lives in the package, not in ``benchmarks/``, so that ``daskflow bench``
works from an installed daskflow on any cluster a user has. The modules:

- ``machine.py``: the machine and versions every result carries;
- ``tasks.py``: the task functions (pure Python, picklable, no daskflow);
- ``shapes.py``: each workload as a daskflow DAG and as a ``{key: Task}`` graph;
- ``timing.py``: one timed run of either, and the summary of several;
- ``workloads.py``: the workloads, each a function of a client and settings;
- ``suite.py``: sizes, clusters, repeats, and the JSON record of it all;
- ``report.py`` and ``plot.py``: the Markdown tables and the Bokeh plot.

Nothing here asserts a target; the report prints targets beside the figures.
"""
