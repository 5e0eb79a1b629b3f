"""Functions pickled by value keep the file and line they were written at.

The functions of a DAG file travel to Dask workers by value (cloudpickle):
the file's module is not importable there. cloudpickle rebuilds each code
object from its parts and replaces its file name with ``<dynamic-code>``,
so a task's traceback would say ``File "<dynamic-code>", line 12`` instead
of naming the DAG file. Here a code object is pickled whole with
:mod:`marshal`, the format of ``.pyc`` files, which keeps its file name and
line table; unpickling needs nothing but ``marshal.loads``, so workers need
no daskflow code for it. Like cloudpickle's own reduction, the bytes are
for the same Python version only, which a Dask cluster needs anyway.

:func:`reduce_code` is what a cloudpickle ``Pickler`` subclass uses
(``scheduler/dag_pickling.py``); :func:`install` makes every cloudpickle
pickler of this process use it, so the graphs that Dask's client pickles
carry it too (a process that submits runs calls it with
``cluster_plugins.install``).
"""

from __future__ import annotations

import marshal
import types
from typing import Any

import cloudpickle


def reduce_code(code: types.CodeType) -> Any:
    """``marshal.loads(<bytes>)``; ``NotImplemented`` (cloudpickle's way) if marshal cannot."""
    try:
        return marshal.loads, (marshal.dumps(code),)
    except ValueError:  # a constant marshal does not know: built by hand, not compiled
        return NotImplemented


def _reduce_code_or_fallback(code: types.CodeType) -> Any:
    reduced = reduce_code(code)
    return _CLOUDPICKLE_REDUCE(code) if reduced is NotImplemented else reduced


_TABLE: dict | None = getattr(cloudpickle.Pickler, "_dispatch_table", None)
_CLOUDPICKLE_REDUCE = (_TABLE or {}).get(types.CodeType)


def install() -> bool:
    """Have cloudpickle keep code objects' file names in this process; whether it could.

    cloudpickle keeps its reductions in a table on its ``Pickler`` class;
    where a version of it does not, nothing changes (tracebacks then say
    ``<dynamic-code>``, and the tests of this module fail).
    """
    if _TABLE is None or _CLOUDPICKLE_REDUCE is None:
        return False
    _TABLE[types.CodeType] = _reduce_code_or_fallback
    return True
