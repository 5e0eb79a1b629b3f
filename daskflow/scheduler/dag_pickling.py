"""Sending whole DAGs from a parse process to the scheduler: every task with its links.

Tasks pickle lean on purpose: a task shipped to a Dask worker leaves its DAG
and task group behind (a summary travels instead) and an ``XComArg`` keeps
only the upstream task id, so a run of 1,000 tasks does not send the DAG
1,000 times. A DAG going from a parse process to the scheduler needs the
opposite: the same graph, every task still pointing at its DAG, group and
upstream operators. :func:`dumps_dags` pickles with a cloudpickle
``Pickler`` that overrides exactly those two reductions, and code objects,
which keep their file name (``execution/code_pickling.py``) so that a
task's traceback names its DAG file; an operator's own
``__getstate__``/``__setstate__`` (e.g. BashOperator's process handle)
still applies.

Functions and classes of the DAG file travel by value (the file's module is
not in ``sys.modules``; helper modules of the DAG folder are registered by
value in the parse process), so loading the DAGs runs none of the file's
module-level code and imports none of its helper modules: only libraries
the functions refer to (``pandas``, ``daskflow``, ...) are imported.
"""

from __future__ import annotations

import copyreg
import io
import types
from typing import Any

import cloudpickle

from daskflow.execution.code_pickling import reduce_code
from daskflow.models.baseoperator import BaseOperator
from daskflow.models.dag import DAG
from daskflow.models.xcom_arg import XComArg


class _WholeGraphPickler(cloudpickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseOperator):
            state = obj.__getstate__()
            state["dag"] = obj.__dict__.get("dag")
            state["task_group"] = obj.__dict__.get("task_group")
            return copyreg.__newobj__, (type(obj),), state
        if isinstance(obj, XComArg):
            return copyreg.__newobj__, (type(obj),), dict(obj.__dict__)
        if isinstance(obj, types.CodeType):
            reduced = reduce_code(obj)
            if reduced is not NotImplemented:
                return reduced
        return super().reducer_override(obj)


def dumps_dags(dags: list[DAG]) -> bytes:
    """``dags`` as bytes that :func:`loads_dags` turns back into the same graphs."""
    for dag in dags:
        dag.summary()  # tasks pickle it; made now, it does not appear mid-pickling
    buffer = io.BytesIO()
    _WholeGraphPickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(list(dags))
    return buffer.getvalue()


def loads_dags(blob: bytes) -> list[DAG]:
    """The DAGs :func:`dumps_dags` made; ``TypeError`` if the bytes hold something else."""
    dags = cloudpickle.loads(blob)
    if not isinstance(dags, list) or not all(isinstance(d, DAG) for d in dags):
        raise TypeError(f"expected a list of DAGs, got {type(dags).__name__}")
    return dags
