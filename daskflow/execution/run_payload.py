"""What every node of a run has in common, sent to each Dask worker once.

A node needs its operator, the run's details (``DagRunInfo``), the report
topic, where results and the store are, and a few numbers. Put into every
graph node, that is about 1.8 KB per task that the client pickles, the Dask
scheduler unpickles and pickles again for a worker, and the worker unpickles:
on a 1,000-task fan-out it made the run a quarter slower than the same graph
of plain functions (docs/performance.md).

So a run registers one :class:`RunPayload` worker plugin holding the
:class:`RunShared` part: the Dask scheduler keeps it as bytes and hands it to
every worker, including workers that join later (a restarted worker gets it
again when it registers). Each graph node then carries a :class:`NodeRef`:
the plugin's name, the submission's token, and what differs per task
instance, a tuple of a few small fields. The node finds the rest on its
worker (``node.run_node``). The loop removes the plugin when the run leaves
it; a payload left behind by a loop that died is removed when the run is
driven again (the plugin is named after the run and the submission).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from distributed.diagnostics.plugin import WorkerPlugin

from daskflow.execution import cluster_plugins
from daskflow.models.context import DagRunInfo

logger = logging.getLogger("daskflow.execution")

#: Plugin names start with this; the rest names the run.
PREFIX = "daskflow-run:"


@dataclass(frozen=True)
class RunShared:
    """The part of every node's spec that one submission of a run shares."""

    run: DagRunInfo
    topic: str
    #: The DAG's operators by task id (each travels without its DAG: ``BaseOperator``).
    tasks: Mapping[str, Any]
    results_url: str | None
    store_url: str | None
    log_limit: int
    start_report_delay: float


class NodeRef(NamedTuple):
    """One graph node's own part of its spec (a tuple: small and quick to pickle)."""

    payload: str
    token: str
    task_id: str
    upstream_ids: tuple[str, ...]
    map_index: int = -1
    first_try: int = 1
    length_keys: tuple[str, ...] = ()
    unexpandable: bool = False
    limits: tuple = ()
    blocked: str | None = None
    pokes: tuple[float, int] | None = None
    secrets: tuple[str, ...] = ()


class RunPayload(WorkerPlugin):
    """The worker plugin that carries a :class:`RunShared` to every worker."""

    idempotent = False

    def __init__(self, name: str, token: str, shared: RunShared) -> None:
        self.name = name
        self.token = token
        self.shared = shared


class PayloadMissing(RuntimeError):
    """A node found no payload of its submission on its worker."""


def run_prefix(dag_id: str, run_id: str) -> str:
    """What the plugin names of every submission of a run start with.

    >>> run_prefix("etl", "manual__2025-01-01")
    'daskflow-run:etl/manual__2025-01-01/'
    """
    return f"{PREFIX}{dag_id}/{run_id}/"


def shared_of(worker: Any, ref: NodeRef) -> RunShared:
    """The payload ``ref`` points to, from this worker's plugins."""
    plugin = getattr(worker, "plugins", {}).get(ref.payload)
    if not isinstance(plugin, RunPayload) or plugin.token != ref.token:
        raise PayloadMissing(
            f"task {ref.task_id!r}: worker {getattr(worker, 'address', worker)} has no "
            f"payload {ref.payload!r} of submission {ref.token} (the run was resubmitted "
            "or has ended: this key is left over from an earlier submission)")
    return plugin.shared


def register(client: Any, token: str, shared: RunShared) -> str:
    """Send the payload to every worker of the cluster (and to the ones that join later);
    returns its name. Payloads of earlier submissions of the run are then removed."""
    prefix = run_prefix(shared.run.dag_id, shared.run.run_id)
    name = prefix + token
    _background.submit(client.register_plugin, RunPayload(name, token, shared),
                       name=name).result()
    _background.submit(_forget_stale, client, prefix, name)
    return name


def forget(client: Any, name: str) -> None:
    """Remove the payload from the cluster, without waiting (the run left this loop)."""
    _background.submit(_forget_quietly, client, name)


#: One thread per process registers and removes payloads, in the order asked.
_background = ThreadPoolExecutor(1, thread_name_prefix="daskflow-payloads")


def _forget_stale(client: Any, prefix: str, keep: str) -> None:
    try:
        names = cluster_plugins.worker_plugins(client, prefix)
    except Exception:  # a scheduler without daskflow's plugin: nothing to tidy
        return
    for name in names:
        if name != keep:
            _forget_quietly(client, name)


def _forget_quietly(client: Any, name: str) -> None:
    try:
        client.unregister_worker_plugin(name)
    except Exception:  # the client closed, the scheduler restarted, or it is gone already
        logger.debug("could not remove the run payload %s", name, exc_info=True)
