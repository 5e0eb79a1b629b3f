"""The ``daskflow`` command line: thin click commands over the model, execution and store.

Each command group lives in its own module (``db``, ``dags``, ``tasks``,
``runs``, ``pools``), larger commands in theirs (``scheduler``, ``trigger``,
``backfill``, ``clear``, ``dag_state``); ``main.cli`` is the root group that
the console script runs, and ``main.py`` adds each command to its group.
Commands only parse options and render results: the DAG folder and the
metadata store are opened lazily, once per invocation, by ``context.py``;
every :class:`~daskflow.exceptions.DaskflowError` becomes one message on
stderr and exit code 2 (``errors.py``).
"""
