"""The ``daskflow`` command line: thin click commands over the model, execution and store.

Each command group lives in its own module (``db``, ``dags``, ``tasks``,
``runs``); ``main.cli`` is the root group that the console script runs.
Commands only parse options and render results: the DAG folder and the
metadata store are opened lazily, once per invocation, by ``context.py``;
every :class:`~daskflow.exceptions.DaskflowError` becomes one message on
stderr and exit code 2 (``errors.py``).
"""
