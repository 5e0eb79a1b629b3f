"""Which runs this process drives, proven on a clock of their own.

A loop (or a ``dags test`` process) owns the runs it claimed for as long as
it keeps their ``heartbeat`` fresh in the store; after ``stale_after``
without one, any other loop may adopt them (``store/claims.py``). So the
heartbeat must never wait on the loop's work: :class:`Ownership` beats from a
thread of its own, with its own store connection that does not wait out
outages (a late heartbeat is worth nothing; the next one is due soon).

Every beat that the store confirms extends the runs' **leases** to
``beat time + stale_after - interval``: until then no other loop can have
adopted them, since their heartbeat is younger than ``stale_after`` when the
lease ends. The lease ends are sent to the Dask scheduler, where nodes check
them before running the user's code (``execution/lease.py``); a stalled loop's
cluster thus stops starting tasks of its runs before they can be adopted.

A beat also tells the loop what changed: runs it lost (adopted by another
loop, cleared by a user, or refused by a fenced write) and runs the store
says it owns but it does not drive (a claim whose answer never arrived).
The loop drains both from its own thread.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from daskflow.execution import cluster_plugins
from daskflow.store import StoreError

logger = logging.getLogger("daskflow.ownership")
RunKey = tuple[str, str]


@dataclass
class Held:
    """One run this process drives: the fence it claimed it with, and its lease."""

    fence: int
    lease_id: str
    until: float
    #: ``time.monotonic()`` when it was taken: a beat that began earlier cannot judge it.
    taken: float = 0.0


class Ownership:
    """Heartbeats, fences and leases of the runs one loop drives."""

    def __init__(self, store: Any, owner: str, client: Any = None, *, interval: float = 2.0,
                 stale_after: float = 10.0) -> None:
        if stale_after <= interval:
            raise ValueError(f"stale_after ({stale_after:g}s) must be longer than the "
                             f"heartbeat interval ({interval:g}s)")
        self.store = store
        self.owner = owner
        self.client = client
        self.interval = interval
        self.stale_after = stale_after
        #: Seconds a proven heartbeat lets this process start tasks of a run.
        self.lease_length = stale_after - interval
        #: The Dask scheduler's id as of the last beat (a change means it restarted).
        self.scheduler_id: str | None = None
        self._held: dict[RunKey, Held] = {}
        self._lost: set[RunKey] = set()
        self._unknown: dict[RunKey, int] = {}
        self._dropped: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    # -- the runs -----------------------------------------------------------------------
    def hold(self, key: RunKey, fence: int, since: float) -> None:
        """Drive ``key``, claimed with ``fence`` by a write stamped ``since`` (epoch)."""
        with self._lock:
            self._held[key] = Held(fence, secrets.token_hex(8), since + self.lease_length,
                                   time.monotonic())
            self._lost.discard(key)
            self._unknown.pop(key, None)

    def release(self, key: RunKey) -> None:
        """Stop driving ``key`` (finished, handed back or lost)."""
        with self._lock:
            held = self._held.pop(key, None)
            if held is not None:
                self._dropped.append(held.lease_id)

    def fences(self) -> dict[RunKey, int]:
        with self._lock:
            return {key: held.fence for key, held in self._held.items()}

    def fence(self, key: RunKey) -> int | None:
        with self._lock:
            held = self._held.get(key)
            return None if held is None else held.fence

    def lease(self, key: RunKey) -> tuple[str, float] | None:
        """``(lease_id, until)`` to annotate the run's keys with; ``None`` if not held."""
        with self._lock:
            held = self._held.get(key)
            return None if held is None else (held.lease_id, held.until)

    def lease_valid(self, key: RunKey, now: float | None = None) -> bool:
        lease = self.lease(key)
        return lease is not None and lease[1] > (time.time() if now is None else now)

    def mark_lost(self, keys: set[RunKey]) -> None:
        """Runs found lost elsewhere (a fenced write was refused)."""
        if keys:
            with self._lock:
                self._lost |= keys & set(self._held)

    def take_lost(self) -> set[RunKey]:
        with self._lock:
            lost, self._lost = self._lost, set()
        return lost

    def take_unknown(self) -> dict[RunKey, int]:
        with self._lock:
            unknown, self._unknown = self._unknown, {}
        return unknown

    # -- beating --------------------------------------------------------------------------
    def start(self) -> None:
        """Beat every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="daskflow-heartbeat",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # the beat thread must outlive anything; the next beat retries
                logger.exception("heartbeat of %s failed", self.owner)

    def beat(self, now: float | None = None) -> None:
        """One heartbeat: prove ownership in the store, then renew the leases on the cluster."""
        now = time.time() if now is None else now
        began = time.monotonic()
        try:
            owned = self.store.heartbeat(self.owner, datetime.fromtimestamp(now, timezone.utc))
        except StoreError as exc:
            if not self._failing:
                logger.warning("%s could not heartbeat (%s); its runs' leases run out in %gs "
                               "unless a heartbeat gets through", self.owner, exc,
                               self.lease_length)
            self._failing = True
            return
        if self._failing:
            logger.warning("%s heartbeats again", self.owner)
            self._failing = False
        with self._lock:
            for key, held in self._held.items():
                if owned.get(key) == held.fence:
                    held.until = max(held.until, now + self.lease_length)
                elif held.taken < began:  # a run taken during the beat may not show in it
                    self._lost.add(key)
            self._unknown = {k: f for k, f in owned.items() if k not in self._held}
        self.push_leases()

    def push_leases(self) -> None:
        """Send the current lease ends to the Dask scheduler (installing daskflow's plugin)."""
        if self.client is None:
            return
        with self._lock:
            leases = {h.lease_id: h.until for k, h in self._held.items() if k not in self._lost}
            dropped, self._dropped = self._dropped, []
            dropped += [self._held[k].lease_id for k in self._lost if k in self._held]
        try:
            scheduler_id = cluster_plugins.renew_leases(self.client, leases, dropped)
            if scheduler_id is None:  # a scheduler without the plugin (it restarted)
                cluster_plugins.install(self.client)
                scheduler_id = cluster_plugins.renew_leases(self.client, leases, dropped)
        except Exception as exc:  # the scheduler is away: nodes cannot start anything either
            logger.debug("could not renew leases on the Dask scheduler: %s", exc)
            return
        self.scheduler_id = scheduler_id
