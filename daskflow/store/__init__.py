"""The metadata store: DAGs, runs, task instances, attempts, logs, XComs, pools,
connections and variables.

``Store`` is the only entry point; it speaks in the frozen records below and
raises ``StoreError`` (and its subclasses) for anything the database refuses.
"""

from __future__ import annotations

from daskflow.store.errors import (
    ConstraintError,
    FernetKeyError,
    NotFoundError,
    RunExistsError,
    RunLostError,
    StoreError,
    StoreUnavailable,
)
from daskflow.store.records import (
    AttemptRecord,
    AttemptUpdate,
    ConnectionRecord,
    DagRecord,
    DagRunRecord,
    DagVersionRecord,
    ImportErrorRecord,
    LoopRecord,
    PoolRecord,
    TaskInstanceRecord,
    TaskUpdate,
    VariableRecord,
    XComRecord,
    XComUpdate,
)
from daskflow.store.store import Store

__all__ = [
    "AttemptRecord",
    "AttemptUpdate",
    "ConnectionRecord",
    "ConstraintError",
    "DagRecord",
    "DagRunRecord",
    "DagVersionRecord",
    "FernetKeyError",
    "ImportErrorRecord",
    "LoopRecord",
    "NotFoundError",
    "PoolRecord",
    "RunExistsError",
    "RunLostError",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TaskInstanceRecord",
    "TaskUpdate",
    "VariableRecord",
    "XComRecord",
    "XComUpdate",
]
