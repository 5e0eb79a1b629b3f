"""The values that cross the store's boundary: frozen dataclasses, no ORM objects.

Queries return these records and writes accept them, so nothing outside
``daskflow/store`` holds a session, a row or a lazy attribute. Field names equal
column names, which keeps the mapping in ``store.py`` a one-liner.

Writes to task instances come in as changes rather than rows: a runner that learns
"task ``extract`` started on worker ``tcp://10.0.0.5:4711``" sends a
:class:`TaskUpdate` carrying just those fields, and the store leaves every other
column alone. ``None`` means "leave unchanged"; to set a nullable column back to
``NULL`` (say ``end_date`` when a task is retried) name it in ``clear``:

>>> TaskUpdate("etl", "manual__1", "extract", state="running").changes()
{'state': 'running'}
>>> TaskUpdate("etl", "manual__1", "extract", state="up_for_retry",
...            clear=frozenset({"end_date"})).changes()
{'state': 'up_for_retry', 'end_date': None}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DagRecord:
    """One DAG as last parsed; ``is_paused`` is owned by the user, not the parser."""

    dag_id: str
    fileloc: str
    is_paused: bool = False
    is_active: bool = True
    description: str | None = None
    schedule: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    max_active_runs: int | None = None
    last_parsed: datetime | None = None
    next_dagrun: datetime | None = None
    next_dagrun_data_interval_start: datetime | None = None
    next_dagrun_data_interval_end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags or ()))


@dataclass(frozen=True)
class DagVersionRecord:
    """The source and structure of a DAG at one point in time, keyed by their hash."""

    version_id: str
    dag_id: str
    fileloc: str
    source: str
    structure: Any
    created_at: datetime
    signature: str | None = None


@dataclass(frozen=True)
class DagRunRecord:
    """One run of a DAG for one logical date."""

    id: int
    dag_id: str
    run_id: str
    logical_date: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    state: str
    run_type: str
    conf: Mapping[str, Any] | None
    start_date: datetime | None
    end_date: datetime | None
    queued_at: datetime | None
    external_trigger: bool
    dag_version: str | None
    last_scheduling_decision: datetime | None
    owner_loop: str | None
    heartbeat: datetime | None
    fence: int = 0
    reason: str | None = None
    results_purged_at: datetime | None = None


@dataclass(frozen=True)
class TaskInstanceRecord:
    """One task (or one mapped element of it) in one run; ``map_index`` -1 if unmapped."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    state: str | None = None
    try_number: int = 0
    max_tries: int = 0
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    hostname: str | None = None
    worker: str | None = None
    operator: str | None = None
    pool: str = "default_pool"
    pool_slots: int = 1
    priority_weight: int = 1
    queued_at: datetime | None = None
    rendered_fields: Mapping[str, Any] | None = None
    updated_at: datetime | None = None
    next_try_at: datetime | None = None
    #: Where the outcome is kept for recovery (``execution/results.py``).
    result_ref: str | None = None
    #: Lengths of XComs that mapped tasks downstream expand over.
    map_lengths: Mapping[str, Any] | None = None
    #: A deferred task's trigger and where it resumes (``execution/deferral.py``).
    deferral: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TaskUpdate:
    """A change to one task instance: fields left ``None`` keep their stored value.

    If the task instance does not exist yet it is inserted, the fields not given
    taking their defaults. ``clear`` names nullable fields to set to ``NULL``.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    state: str | None = None
    try_number: int | None = None
    max_tries: int | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    hostname: str | None = None
    worker: str | None = None
    operator: str | None = None
    pool: str | None = None
    pool_slots: int | None = None
    priority_weight: int | None = None
    queued_at: datetime | None = None
    rendered_fields: Mapping[str, Any] | None = None
    next_try_at: datetime | None = None
    result_ref: str | None = None
    map_lengths: Mapping[str, Any] | None = None
    deferral: Mapping[str, Any] | None = None
    clear: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "clear", frozenset(self.clear))
        unknown = self.clear - CLEARABLE
        if unknown:
            raise ValueError(f"cannot clear {sorted(unknown)}; clearable: {sorted(CLEARABLE)}")
        both = {name for name in self.clear if getattr(self, name) is not None}
        if both:
            raise ValueError(f"{sorted(both)} both given a value and cleared")

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.dag_id, self.run_id, self.task_id, self.map_index)

    def changes(self) -> dict[str, Any]:
        """The columns this update writes, cleared ones mapped to ``None``."""
        values = {name: getattr(self, name) for name in _CHANGE_FIELDS}
        changed = {name: value for name, value in values.items() if value is not None}
        return changed | dict.fromkeys(sorted(self.clear))


_KEY_FIELDS = ("dag_id", "run_id", "task_id", "map_index")
_CHANGE_FIELDS = tuple(f.name for f in fields(TaskUpdate) if f.name not in (*_KEY_FIELDS, "clear"))
CLEARABLE = frozenset(
    {
        "state",
        "start_date",
        "end_date",
        "duration",
        "hostname",
        "worker",
        "operator",
        "queued_at",
        "rendered_fields",
        "next_try_at",
        "result_ref",
        "map_lengths",
        "deferral",
    }
)


@dataclass(frozen=True)
class AttemptRecord:
    """One try of one task instance; its log is read with ``Store.get_log``."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    state: str | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    hostname: str | None
    worker: str | None
    error: str | None
    loop_id: str | None = None
    #: When Dask could first run this try; ``None`` when not known (``schema.py``).
    queued_date: datetime | None = None


@dataclass(frozen=True)
class AttemptUpdate:
    """The full row of one try, written over any stored row with the same key."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    _: KW_ONLY
    try_number: int
    state: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    hostname: str | None = None
    worker: str | None = None
    error: str | None = None
    log: str = ""
    loop_id: str | None = None
    queued_date: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number)


@dataclass(frozen=True)
class XComRecord:
    """A small, display-only copy of a value a task pushed (or its ``repr``)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: Any
    created_at: datetime


@dataclass(frozen=True)
class XComUpdate:
    """An XCom to write; replaces any stored value under the same key."""

    dag_id: str
    run_id: str
    task_id: str
    key: str
    value: Any = None
    map_index: int = -1

    @property
    def row_key(self) -> tuple[str, str, str, int, str]:
        return (self.dag_id, self.run_id, self.task_id, self.map_index, self.key)


@dataclass(frozen=True)
class ImportErrorRecord:
    """A DAG file that failed to import, with the traceback the user should read."""

    filename: str
    stacktrace: str
    timestamp: datetime


@dataclass(frozen=True)
class PoolRecord:
    """A named limit on how many task slots may run at once."""

    name: str
    slots: int
    description: str = ""


@dataclass(frozen=True)
class ConnectionRecord:
    """A stored connection, decrypted (``is_encrypted``: how it is kept at rest)."""

    conn_id: str
    conn_type: str
    description: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None
    is_encrypted: bool = False


@dataclass(frozen=True)
class VariableRecord:
    """A stored variable, its value decrypted text."""

    key: str
    val: str | None
    description: str | None = None
    is_encrypted: bool = False


@dataclass(frozen=True)
class LoopRecord:
    """A running ``daskflow scheduler`` and its Dask dashboard's URL (None: it has none)."""

    loop_id: str
    hostname: str
    dashboard_url: str | None
    started_at: datetime
