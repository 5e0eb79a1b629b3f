"""The report: what a node tells the loop about one attempt, typed.

Nodes send reports over Dask's event stream (``Worker.log_event``), which
carries plain msgpack values only, so a :class:`Report` travels as a dict
(:meth:`Report.to_wire`) and becomes a :class:`Report` again on arrival
(:meth:`Report.from_wire`). Everything on the loop's side (decisions, the
recorder, callbacks, notifications) reads the typed form; only the Dask
scheduler's plugin, which counts starts and ends, reads the wire form.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: Report kinds: an attempt began (the task shows ``running``), or it ended.
START = "start"
END = "end"


@dataclass(frozen=True)
class Report:
    """One attempt of one task instance, as its node (or the loop, for a crash) saw it."""

    kind: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str
    #: The try this attempt is; 0 when the task ended without an attempt (skipped, ...).
    try_number: int = 0
    #: The Dask key that ran it (None: written by the loop, not by a node).
    key: str | None = None
    host: str | None = None
    worker: str | None = None
    #: When Dask could first run this try (epoch seconds; ``cluster_plugins.py``).
    queued: float | None = None
    start: float | None = None
    end: float | None = None
    #: ``"Type: message"`` of the failure; None when it did not fail.
    error: str | None = None
    log: str = ""
    #: Rendered template fields, as display text.
    rendered: dict[str, str] | None = None
    #: A display copy of each XCom the attempt pushed.
    xcom: dict[str, str] | None = None
    #: Lengths of the XComs a mapped task downstream expands over (None: not a list).
    lens: dict[str, int | None] | None = None
    #: Where the outcome is kept for recovery (``execution/results.py``).
    result: str | None = None
    #: A sensor that will poke again (``up_for_reschedule``): when, and its pokes so far.
    reschedule_at: float | None = None
    pokes: int = 0
    #: A task that deferred (``deferred``): its trigger and where it resumes
    #: (``execution/deferral.py``).
    deferral: dict[str, Any] | None = None

    @property
    def ended(self) -> bool:
        return self.kind == END

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    def to_wire(self) -> dict[str, Any]:
        """The dict Dask's event stream carries (``try`` for the try number).

        Fields at their empty default are left out: a run sends one report per
        task, and Dask sizes and packs every message it sends.
        """
        wire = {name: value for name in _ALL_FIELDS
                if (value := getattr(self, name)) is not None and value != _EMPTY.get(name)}
        wire["try"] = wire.pop("try_number", 0)
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Report:
        """The report a wire dict holds; fields it lacks take their defaults."""
        values = {name: wire[name] for name in _WIRE_FIELDS if name in wire}
        values["try_number"] = int(wire.get("try") or 0)
        values["log"] = wire.get("log") or ""
        return cls(**values)


def reports_in(message: Any) -> list[dict[str, Any]]:
    """The wire reports one event carries: a report, or a worker's batch of them
    (``{"batch": [...]}``, see ``node._EndReports``).

    >>> reports_in({"kind": "end", "key": "k"})
    [{'kind': 'end', 'key': 'k'}]
    >>> [r["key"] for r in reports_in({"batch": ({"key": "a"}, {"key": "b"})})]
    ['a', 'b']
    """
    if not isinstance(message, dict):
        return []
    batch = message.get("batch")
    if isinstance(batch, (list, tuple)):  # msgpack delivers the list as a tuple
        return [r for r in batch if isinstance(r, dict)]
    return [message]


def travels(value: Any) -> bool:
    """Whether Dask's event stream carries ``value`` as it is (plain values only).

    >>> travels({"a": [1, 2.0, None, "x"]}), travels({"a": {1, 2}}), travels({1: "x"})
    (True, False, False)
    """
    if value is None or type(value) in (str, bool, int, float, bytes):
        return True
    if isinstance(value, dict):
        return all(type(k) is str for k in value) and all(map(travels, value.values()))
    if isinstance(value, (list, tuple)):
        return all(map(travels, value))
    return False


_WIRE_FIELDS = tuple(f.name for f in fields(Report) if f.name not in ("try_number", "log"))
_ALL_FIELDS = tuple(f.name for f in fields(Report))
#: Values that mean "nothing" for a field, left off the wire (``from_wire`` restores them).
_EMPTY: dict[str, Any] = {"log": "", "pokes": 0, "rendered": {}, "xcom": {}, "lens": {}}
