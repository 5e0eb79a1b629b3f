"""Runs submitted from Python (``dag.submit``): one background driver per client and store.

``dag.test()`` drives its one run from the caller's thread until it ends.
``dag.submit()`` must return at once, and a script may submit many runs of
several DAGs on one Dask client, so each (client, store) pair gets one
:class:`Submitter`: a daemon thread that owns a
:class:`~daskflow.execution.runner.Runner` and drives every run submitted to
it, exactly as a scheduler loop drives the runs it claimed (heartbeats,
fencing, retries, timeouts, callbacks). Nothing else touches the runner:
other threads hand it commands through a queue, and read what it publishes
in each run's :class:`LiveRun`.

The caller's thread writes the run to the store before the command is
queued, so a bad DAG or a taken logical date fails in ``dag.submit`` itself,
naming the DAG. A loop on the same store leaves these runs alone while the
submitting process heartbeats; if the process dies, a loop adopts them.

Clusters: a ``distributed.Client`` is used as given and never closed; an
address or a cluster object is connected once per process and the embedded
cluster (``LocalCluster``, or what the ``cluster`` settings name) is started
once per process (all closed by :func:`close_all`, which also runs at
interpreter exit).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import socket
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from daskflow import config
from daskflow.exceptions import DaskflowError
from daskflow.execution.cluster import connect
from daskflow.execution.run import RunExecution
from daskflow.execution.runner import Runner
from daskflow.execution.single_run import (
    HEARTBEAT_INTERVAL,
    STALE_AFTER,
    check_conf,
    parse_logical_date,
)
from daskflow.models.state import DagRunState, TaskInstanceState
from daskflow.scheduler.dag_sync import dag_record, save_version
from daskflow.store import RunExistsError, Store

logger = logging.getLogger("daskflow.submit")
RunKey = tuple[str, str]
#: The longest the driver thread waits for the cluster before looking at its commands.
STEP_WAIT = 0.05
_numbers = itertools.count(1)


@dataclass
class LiveRun:
    """What the driver thread publishes about one submitted run, for its handle."""

    dag_id: str
    run_id: str
    submitter: Submitter
    #: Set once the run's end is in the store (or the driver thread died).
    done: threading.Event = field(default_factory=threading.Event)
    state: str = DagRunState.RUNNING.value
    reason: str | None = None
    #: The driver thread's own error, if it died: every waiter gets it.
    error: BaseException | None = None

    @property
    def key(self) -> RunKey:
        return (self.dag_id, self.run_id)

    @property
    def execution(self) -> RunExecution | None:
        """The run's execution while the driver drives it (read-only for other threads).

        Looked up each time: a run Dask lost keys of is resubmitted as a new one.
        """
        if self.done.is_set():
            return None
        return self.submitter.runner.executions.get(self.key)


class Submitter:
    """One daemon thread driving every run submitted on one client to one store."""

    def __init__(self, client: Any, db_url: str) -> None:
        self.client = client
        self.store = Store(db_url)
        self.store.init()
        self.owner = f"submit-{socket.gethostname()}-{os.getpid()}-{next(_numbers)}"
        self.runs: dict[RunKey, LiveRun] = {}
        self._dags: dict[RunKey, Any] = {}
        #: dag_id -> (the DAG object, its structure hash, its stored version id).
        self._versions: dict[str, tuple[Any, str, str]] = {}
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self.runner = Runner(
            self.store, client, self.owner, dag_for=lambda record: self._dags[
                (record.dag_id, record.run_id)],
            results_url=config.results_url(), heartbeat_interval=HEARTBEAT_INTERVAL,
            stale_after=STALE_AFTER, record_interval=float(config.get("record-interval", 0.25)),
            on_closed=self._closed)
        self._thread = threading.Thread(target=self._serve, name=f"daskflow-{self.owner}",
                                        daemon=True)
        self._thread.start()

    # -- called from any thread ---------------------------------------------------------
    def submit(self, dag: Any, logical_date: Any = None, conf: dict | None = None) -> LiveRun:
        """Write a new run of ``dag`` to the store and queue it for the driver thread."""
        if self._closing.is_set() or not self._thread.is_alive():
            raise DaskflowError("this submitter is closed; submit again to get a new one")
        conf = check_conf(conf)
        dag.validate()
        now = datetime.now(timezone.utc)
        record = self._create_run(dag, logical_date, conf, now)
        live = LiveRun(dag.dag_id, record.run_id, self)
        with self._lock:
            self.runs[live.key] = live
            self._dags[live.key] = dag
        fence = self.store.assign_run(dag.dag_id, record.run_id, owner=self.owner, now=now)
        self._commands.put(("drive", live, fence))
        return live

    def cancel(self, live: LiveRun, reason: str) -> None:
        """Mark the run failed as Airflow does (running tasks failed, the rest skipped)."""
        self._commands.put(("cancel", live, reason))

    def close(self, timeout: float = 30) -> None:
        """Stop driving: unfinished runs end failed ("the submitting process closed")."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._commands.put(("close", None, None))
        self._thread.join(timeout)

    # -- the store, from the caller's thread ----------------------------------------------
    def _create_run(self, dag: Any, logical_date: Any, conf: dict, now: datetime) -> Any:
        version = self._version(dag)
        logical = parse_logical_date(logical_date, now)
        for _ in range(100):
            interval = dag.timetable.infer_manual_data_interval(logical)
            try:
                return self.store.create_dag_run(
                    dag.dag_id, f"manual__{logical.isoformat()}", logical, interval.start,
                    interval.end, "manual", conf, state="running", external_trigger=True,
                    dag_version=version)
            except RunExistsError:
                if logical_date is not None:
                    raise DaskflowError(
                        f"DAG {dag.dag_id!r} already has a run at logical date "
                        f"{logical.isoformat()}; a DAG has one run per logical date: pass "
                        "another logical_date (or none, for now)") from None
                # "Now" was taken by a run submitted in the same microsecond.
                logical += timedelta(microseconds=1)
        raise DaskflowError(f"could not find a free logical date for DAG {dag.dag_id!r}")

    def _version(self, dag: Any) -> str:
        """Record the DAG and its version, once per DAG object and structure: twenty
        runs submitted in a loop write them once, not twenty times."""
        structure = dag.structure_hash()
        cached = self._versions.get(dag.dag_id)
        if cached is not None and cached[0] is dag and cached[1] == structure:
            return cached[2]
        self.store.sync_dags([dag_record(dag)])
        version = save_version(self.store, dag)
        self._versions[dag.dag_id] = (dag, structure, version)
        return version

    # -- the driver thread --------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._closing.is_set():
                if self.client.status in ("closing", "closed"):
                    # The user closed their client (the end of a `with Client()` block):
                    # nothing can run any more; end what is left and stop quietly.
                    self._closing.set()
                    break
                self._take_commands(wait=not self.runner.executions)
                if self.runner.executions:
                    self.runner.step(STEP_WAIT)
                now = datetime.now(timezone.utc)
                self.runner.tick(now)
                self._check_lost()
            self._shutdown()
        except BaseException as exc:  # whatever stopped the thread, every waiter hears it
            logger.exception("the daskflow submit driver %s stopped", self.owner)
            self._die(exc)

    def _take_commands(self, wait: bool) -> None:
        try:
            item = self._commands.get(timeout=HEARTBEAT_INTERVAL) if wait \
                else self._commands.get_nowait()
            while True:
                self._do(*item)
                item = self._commands.get_nowait()
        except queue.Empty:
            pass

    def _do(self, kind: str, live: LiveRun | None, arg: Any) -> None:
        now = datetime.now(timezone.utc)
        if kind == "drive":
            record = self.store.get_dag_run(*live.key)
            self.runner.drive(record, arg, now)
        elif kind == "cancel" and live.key in self.runner.executions:
            self.runner.fail(live.key, now, arg, running_as=TaskInstanceState.FAILED)

    def _closed(self, key: RunKey, state: DagRunState, when: datetime, reason: str | None,
                execution: RunExecution | None) -> None:
        with self._lock:  # an ended run is its handle's alone: nothing here keeps it
            live = self.runs.pop(key, None)
            self._dags.pop(key, None)
        if live is None:
            return
        live.state, live.reason = state.value, reason
        live.done.set()

    def _check_lost(self) -> None:
        for key in list(self.runner.lost):
            with self._lock:
                live = self.runs.pop(key, None)
                self._dags.pop(key, None)
            if live is not None and not live.done.is_set():
                live.error = DaskflowError(
                    f"run {key[1]!r} of DAG {key[0]!r} was taken over by a scheduler loop (or "
                    "cleared) while this process drove it; follow it with daskflow.api")
                live.done.set()

    def _shutdown(self) -> None:
        now = datetime.now(timezone.utc)
        client_closed = self.client.status in ("closing", "closed")
        why = ("its Dask client was closed" if client_closed
               else "the process that submitted the run closed it")
        for key, execution in list(self.runner.executions.items()):
            if client_closed:
                # Its futures went with the client: let go of them first, so that
                # failing the run asks nothing of the closed client.
                self.runner.driver.remove(execution)
            self.runner.fail(key, now, why)
        self.runner.shutdown(release=True)
        self.store.dispose()
        self._die(DaskflowError("the submitter was closed before the run ended"))

    def _die(self, exc: BaseException) -> None:
        for live in list(self.runs.values()):
            if not live.done.is_set():
                live.error = exc
                live.done.set()


# -- one submitter per client and store, per process ------------------------------------
_registry_lock = threading.Lock()
_submitters: dict[tuple[str, str], Submitter] = {}
_clients: dict[str, Any] = {}
_opened = ExitStack()


def submitter_for(cluster: Any = None, db: str | None = None) -> Submitter:
    """The submitter for ``cluster`` (a Client, an address, or None: the embedded one)."""
    url = db or config.db_url()
    with _registry_lock:
        client = _client_for(cluster)
        key = (client.id, url)
        found = _submitters.get(key)
        if found is None or found._closing.is_set() or not found._thread.is_alive():
            found = _submitters[key] = Submitter(client, url)
        return found


def _client_for(cluster: Any) -> Any:
    from distributed import Client

    if isinstance(cluster, Client):
        return cluster
    # An address by itself; a cluster object (a LocalCluster, an SSHCluster) by identity.
    name = cluster if isinstance(cluster, str) else f"object-{id(cluster)}" if cluster else ""
    client = _clients.get(name)
    if client is None or client.status in ("closing", "closed"):
        # Entered once and left open until close_all(): later submits reuse it.
        client = _clients[name] = _opened.enter_context(connect(cluster or None))
    return client


def close_all() -> None:
    """Stop every submitter of this process; close the clusters and clients it opened."""
    with _registry_lock:
        submitters = list(_submitters.values())
        _submitters.clear()
        _clients.clear()
    for submitter in submitters:
        submitter.close()
    _opened.close()


def wait_until(event: threading.Event, deadline: float | None) -> bool:
    """Wait for ``event`` until ``deadline`` (``time.monotonic()``), None meaning forever."""
    if deadline is None:
        return event.wait()
    return event.wait(max(0.0, deadline - time.monotonic()))


atexit.register(close_all)
