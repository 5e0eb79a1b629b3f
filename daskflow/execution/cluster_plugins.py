"""What daskflow runs inside the Dask cluster: a scheduler plugin and a nanny plugin.

The loop cannot see into the Dask scheduler from outside without asking it,
and some promises can only be kept there. :class:`SchedulerSide` (a
``SchedulerPlugin`` named ``daskflow``) keeps four of them:

* **Leases.** A loop may start tasks of a run only while it owns the run
  (``execution/ownership.py``). Every key of a run carries the annotation
  ``daskflow_lease = (lease_id, until)``; the plugin keeps the newest
  ``until`` of each lease, which the loop renews on every heartbeat over the
  ``daskflow_leases`` handler, and a node whose annotated lease has expired
  asks the ``daskflow_lease`` handler before running the user's code
  (``execution/lease.py``). A stalled loop's cluster therefore stops starting
  tasks before another loop can adopt the run.
* **One crash, one try.** Dask re-runs a task whose worker died up to
  ``distributed.scheduler.allowed-failures`` times before it gives up with
  ``KilledWorker``; a task that crashes its worker would so run four times in
  one Airflow try. When a node reports that it started the task's code (its
  ``start`` report passes through the scheduler on its way to the loop), the
  plugin marks the key as already suspicious, so the death of the worker
  running it ends the attempt and Airflow's ``retries`` decide what follows.
  Keys merely queued on a dying worker are not marked: Dask moves them to
  another worker as usual. The node's ``end`` report, and a new try (the
  loop's annotation update before ``Client.retry``), clear the mark, so a
  finished key whose result Dask recomputes after losing it is not marked.
  Other work on the same cluster keeps Dask's setting.
* **Why a worker died.** The nanny's memory monitor announces the restarts
  it makes (``worker-restart-memory`` events); :class:`WorkerExitReporter`,
  a ``NannyPlugin``, announces every other exit of a worker process with its
  exit code or signal. The plugin remembers the last death of each worker
  address for the loop to name in the failed try's log
  (``daskflow_worker_death`` handler).

* **When a try was queued.** When a key of a run leaves Dask's ``waiting``
  state (its inputs are ready, or its retry was released), the plugin stamps
  the time into the key's annotations, which reach the worker with the task;
  the node reports it, and the Gantt page draws queued-to-start as queued.

And it answers the loop's stall check (``RunExecution.check_stall``): the
scheduler state of a run's keys (``daskflow_key_states``), and ending a key
that can never start - it waits for Dask resources no worker offers, or for
workers the cluster does not have - with a :class:`StalledTask` error
(``daskflow_fail_stuck``), which the loop records as the task's failure.

Starting, it also gives Dask's own Groups page a layout that works with the
group graphs of daskflow's keys (``dashboard/group_layout.py``).

The handlers are plain scheduler RPC handlers, so asking them writes nothing
to the scheduler's log (unlike ``Client.run_on_scheduler``).
"""

from __future__ import annotations

import pickle
import signal
import time
from typing import Any

from distributed.diagnostics.plugin import NannyPlugin, SchedulerPlugin

from daskflow.execution import code_pickling
from daskflow.execution.annotations import update_on_scheduler
from daskflow.execution.report import reports_in

PLUGIN_NAME = "daskflow"
LEASE_ANNOTATION = "daskflow_lease"
#: Set by the plugin when a key of a run leaves ``waiting``: the try's queued moment.
QUEUED_ANNOTATION = "daskflow_queued"
#: Scheduler states of a key whose inputs are ready (it waits for, or has, a worker).
_RUNNABLE = frozenset({"processing", "queued", "no-worker"})
#: Topics of node reports start with this (``execution/driver.py`` names them).
REPORT_TOPIC_PREFIX = "daskflow-run-"
#: Annotations the loop sets when a key starts a new try.
NEW_TRY_ANNOTATIONS = frozenset({"daskflow_try", "daskflow_outcome"})
EXIT_TOPIC = "daskflow-worker-exit"
MEMORY_TOPIC = "worker-restart-memory"
#: Leases not renewed for this long belong to loops that are gone: forget them.
FORGET_LEASES_AFTER = 3600.0


class SchedulerSide(SchedulerPlugin):
    """Leases, one-crash-one-try, and worker death reasons, inside the Dask scheduler."""

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.leases: dict[str, float] = {}
        self.workers: dict[str, dict[str, Any]] = {}
        self.deaths: dict[str, str] = {}
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers["daskflow_leases"] = self.renew
        scheduler.handlers["daskflow_lease"] = self.lease
        scheduler.handlers["daskflow_worker_death"] = self.worker_death
        scheduler.handlers["daskflow_key_states"] = self.key_states
        scheduler.handlers["daskflow_annotate"] = self.annotate
        scheduler.handlers["daskflow_fail_stuck"] = self.fail_stuck
        scheduler.handlers["daskflow_worker_plugins"] = self.worker_plugins
        for address, ws in scheduler.workers.items():
            self._remember(address, ws)
        # Dask's own Groups page fails on most DAGs with a mapped task; see the module.
        from daskflow.dashboard import group_layout

        group_layout.install()

    # -- leases -------------------------------------------------------------------------
    def renew(self, leases: dict[str, float] | None = None, drop: list[str] | None = None
              ) -> str:
        """Keep the newest end of each lease; forget ``drop``; return the scheduler's id."""
        for lease_id, until in (leases or {}).items():
            self.leases[lease_id] = max(self.leases.get(lease_id, 0.0), float(until))
        for lease_id in drop or ():
            self.leases[lease_id] = 0.0
        cutoff = time.time() - FORGET_LEASES_AFTER
        for lease_id in [k for k, until in self.leases.items() if until < cutoff]:
            del self.leases[lease_id]
        return self.scheduler.id

    def worker_plugins(self, prefix: str) -> list[str]:
        """The names of the worker plugins registered on the cluster that start with
        ``prefix`` (runs' payloads: ``run_payload.py``)."""
        return sorted(n for n in self.scheduler.worker_plugins if n.startswith(prefix))

    def lease(self, lease_id: str) -> float:
        """Until when (epoch seconds) the run behind ``lease_id`` may start tasks."""
        return self.leases.get(lease_id, 0.0)

    def update_graph(self, scheduler: Any, *, annotations: dict | None = None,
                     **kwargs: Any) -> None:
        leased = (annotations or {}).get(LEASE_ANNOTATION)
        for lease_id, until in (leased or {}).values():
            if until > self.leases.get(lease_id, 0.0):
                self.leases[lease_id] = until

    def transition(self, key: str, start: str, finish: str, *args: Any, **kwargs: Any
                   ) -> None:
        """Stamp a run's key with the moment it became runnable (``QUEUED_ANNOTATION``).

        The key's annotations travel to the worker with the task, so the node
        reports when its try was queued without asking anyone: the time from
        here to the start is what the Gantt page draws as queued. Called for
        every transition of every key, so it returns at once for the others.
        """
        if start != "waiting" or finish not in _RUNNABLE:
            return
        ts = self.scheduler.tasks.get(key)
        annotations = ts.annotations if ts is not None else None
        if annotations and LEASE_ANNOTATION in annotations:
            annotations[QUEUED_ANNOTATION] = time.time()

    def _started(self, key: str) -> None:
        """A node started the task's code: a death of its worker now ends the try."""
        ts = self.scheduler.tasks.get(key) if self.scheduler is not None else None
        if ts is not None and ts.state == "processing":
            ts.suspicious = max(ts.suspicious, self.scheduler.allowed_failures)

    def _ended(self, key: str) -> None:
        """The attempt ended: recomputing a lost result later (a replay of the recorded
        outcome, no code of the task) is not that try, and gets Dask's usual tolerance."""
        ts = self.scheduler.tasks.get(key) if self.scheduler is not None else None
        if ts is not None:
            ts.suspicious = 0

    # -- worker deaths ------------------------------------------------------------------
    def add_worker(self, scheduler: Any, worker: str) -> None:
        ws = scheduler.workers.get(worker)
        if ws is not None:
            self._remember(worker, ws)

    def _remember(self, address: str, ws: Any) -> None:
        self.workers[address] = {"pid": getattr(ws, "pid", None),
                                 "memory_limit": getattr(ws, "memory_limit", None)}

    def log_event(self, topic: str, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        if topic.startswith(REPORT_TOPIC_PREFIX):
            for report in reports_in(msg):
                if report.get("kind") == "start":
                    self._started(report.get("key"))
                elif report.get("kind") == "end":
                    self._ended(report.get("key"))
        elif topic == MEMORY_TOPIC:
            address = msg.get("worker")
            limit = self.workers.get(address, {}).get("memory_limit")
            used = _size(msg.get("rss"))
            of = f" of its {_size(limit)} memory limit" if limit else ""
            self.deaths[address] = (f"the worker {address} (pid {msg.get('pid')}) used "
                                    f"{used}{of} and its nanny restarted it "
                                    "(distributed.worker.memory.terminate)")
        elif topic == EXIT_TOPIC:
            address = msg.get("worker")
            if address in self.deaths and "memory" in self.deaths[address]:
                return  # the memory restart says more than the SIGTERM it caused
            pid = msg.get("pid") or self.workers.get(address, {}).get("pid")
            self.deaths[address] = (f"the worker process {address} (pid {pid}) "
                                    f"{exit_text(msg.get('exitcode'))}")

    def worker_death(self, address: str) -> str | None:
        """How the worker at ``address`` last died, if the cluster said."""
        return self.deaths.get(address)


    def annotate(self, updates: dict[str, dict[str, Any]]) -> list[str]:
        """Merge ``updates`` into keys' annotations (``execution/annotations.py``).

        A key given a new try number or a forced outcome starts a new try:
        the crashes of its earlier tries no longer count against it.
        """
        found = update_on_scheduler(self.scheduler, updates)
        for key in found:
            if NEW_TRY_ANNOTATIONS & set(updates[key]):
                self.scheduler.tasks[key].suspicious = 0
        return found

    # -- stalls -------------------------------------------------------------------------
    def key_states(self, keys: list[str]) -> dict[str, Any]:
        """Each key's scheduler state (``missing`` if unknown), and for keys no worker can
        take, what they need and what the workers offer."""
        states: dict[str, Any] = {}
        for key in keys:
            ts = self.scheduler.tasks.get(key)
            if ts is None:
                states[key] = {"state": "missing"}
                continue
            states[key] = {"state": ts.state}
            if ts.state == "no-worker":
                states[key]["resources"] = dict(ts.resource_restrictions or {})
        offered: dict[str, float] = {}
        for ws in self.scheduler.workers.values():
            for name, amount in (ws.resources or {}).items():
                offered[name] = max(offered.get(name, 0.0), amount)
        return {"keys": states, "workers": len(self.scheduler.workers), "offered": offered}

    def fail_stuck(self, failures: dict[str, str]) -> list[str]:
        """Err each key still waiting for a worker with :class:`StalledTask`; the keys erred."""
        erred = []
        for key, message in failures.items():
            ts = self.scheduler.tasks.get(key)
            if ts is None or ts.state != "no-worker":
                continue
            stimulus = f"daskflow-stalled-{time.time()}"
            recommendations = self.scheduler.transition(
                key, "erred", stimulus_id=stimulus, cause=key,
                exception=pickle.dumps(StalledTask(message)), exception_text=message,
                traceback=None, traceback_text="")
            self.scheduler.transitions(recommendations, stimulus_id=stimulus)
            erred.append(key)
        return erred


class StalledTask(Exception):
    """A task that could not start for ``daskflow.stall-timeout`` seconds, and why."""


def exit_text(code: int | None) -> str:
    """A process exit code as words: ``was killed by signal 9 (SIGKILL)``, ``exited with 3``.

    >>> exit_text(-11)
    'was killed by signal 11 (SIGSEGV)'
    >>> exit_text(3)
    'exited with status 3'
    """
    if code is None:
        return "ended"
    if code < 0:
        try:
            name = f" ({signal.Signals(-code).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {-code}{name}"
    return f"exited with status {code}"


def _size(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class WorkerExitReporter(NannyPlugin):
    """Announces each exit of the nanny's worker process (exit code or signal) as an event.

    Distributed's nanny logs this at INFO level only; the loop needs it to say
    why a try ended. The nanny looks its exit callback up on each exit, so
    wrapping it on the instance covers every later death.
    """

    idempotent = True
    name = "daskflow-worker-exit"

    def setup(self, nanny: Any) -> None:
        original = getattr(nanny, "_on_worker_exit", None)
        if original is None or getattr(original, "_daskflow", False):
            return

        async def on_worker_exit(exitcode: int) -> None:
            # Only deaths while the nanny runs: not the exits of a cluster shutting down,
            # when the scheduler may be gone already.
            if getattr(nanny.status, "name", None) == "running":
                process = getattr(nanny, "process", None)
                nanny.log_event(EXIT_TOPIC, {
                    "worker": getattr(process, "worker_address", None) or nanny.worker_address,
                    "pid": getattr(getattr(process, "process", None), "pid", None),
                    "exitcode": exitcode})
            await original(exitcode)

        on_worker_exit._daskflow = True  # type: ignore[attr-defined]
        nanny._on_worker_exit = on_worker_exit


def install(client: Any) -> None:
    """Register both plugins on the client's cluster (a no-op where they already are).

    Also makes this process pickle task code with its file names, so the
    tracebacks of tasks name their DAG file (``code_pickling.py``).
    """
    code_pickling.install()
    client.register_plugin(SchedulerSide(), name=PLUGIN_NAME)
    client.register_plugin(WorkerExitReporter(), name=WorkerExitReporter.name)


def renew_leases(client: Any, leases: dict[str, float], drop: list[str] | None = None
                 ) -> str | None:
    """Send lease ends to the scheduler; its id, or ``None`` if the plugin is not there."""
    return client.sync(client.scheduler.daskflow_leases, leases=leases, drop=list(drop or ()))


def key_states(client: Any, keys: list[str]) -> dict[str, Any]:
    """See :meth:`SchedulerSide.key_states`."""
    return client.sync(client.scheduler.daskflow_key_states, keys=keys)


def fail_stuck(client: Any, failures: dict[str, str]) -> list[str]:
    """See :meth:`SchedulerSide.fail_stuck`."""
    return client.sync(client.scheduler.daskflow_fail_stuck, failures=failures)


def worker_plugins(client: Any, prefix: str) -> list[str]:
    """See :meth:`SchedulerSide.worker_plugins`."""
    return client.sync(client.scheduler.daskflow_worker_plugins, prefix=prefix)


def worker_death(client: Any, address: str) -> str | None:
    """What the cluster knows of how the worker at ``address`` last died."""
    return client.sync(client.scheduler.daskflow_worker_death, address=address)
