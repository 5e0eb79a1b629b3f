"""``daskflow scheduler``: run the scheduler loop until Ctrl-C or SIGTERM.

With no options it is a whole deployment on one machine: a SQLite store
under ``$DASKFLOW_HOME`` (created if needed), an in-process LocalCluster,
and the DAG folder. ``--db`` and ``--cluster`` point it at PostgreSQL and an
existing Dask cluster instead; several loops may share one PostgreSQL (see
``docs/deployment.md``).

On Ctrl-C or SIGTERM the loop stops claiming, flushes what it recorded and
hands its running runs back, so another loop, or this one started again,
resumes them at once; the command then exits 0. Tasks that succeeded are
not run again when a run is resumed. SIGUSR1 prints the stack of every
thread to stderr, for a scheduler that seems stuck.
"""

from __future__ import annotations

import faulthandler
import signal
import socket
import threading
from datetime import datetime, timezone
from typing import Any

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.dashboard import describe as describe_dashboard
from daskflow.cli.errors import CliError
from daskflow.cli.options import (
    ClusterOptions,
    cluster_option,
    cluster_timeout_option,
    local_cluster_options,
    setting,
)
from daskflow.cli.serving import (
    HEARTBEAT_SECONDS,
    STALE_AFTER_SECONDS,
    build_loop,
    cluster_and_notifier,
    describe_start,
    echo_err,
    events_to_stdout,
    log_to_stderr,
    stop_on_signals,
)

SECONDS = click.FloatRange(min=0, min_open=True)


@click.command("scheduler")
@dags_folder_option
@db_option
@cluster_option
@cluster_timeout_option
@local_cluster_options
@click.option("--heartbeat", type=SECONDS, default=HEARTBEAT_SECONDS, show_default=True,
              metavar="SECONDS", help="How often the loop marks its runs as alive.")
@click.option("--stale-after", type=SECONDS, default=STALE_AFTER_SECONDS, show_default=True,
              metavar="SECONDS",
              help="Adopt another loop's runs once its heartbeat is this old.")
@click.option("--loop-id", metavar="ID", default=None,
              help="This loop's name in the store. [default: HOST-<random>]")
@click.option("--dashboard-address", metavar="HOST:PORT",
              default=setting("local-cluster.scheduler-dashboard-address", "127.0.0.1:8787"),
              help="Where the LocalCluster serves the Dask dashboard (a taken port falls back "
                   "to a free one, with a message); ignored with --cluster. "
                   "[default: 127.0.0.1:8787]")
@click.option("--quiet", "-q", is_flag=True,
              help="Print no line per run created, started or ended, nor per DAG file that "
                   "starts or stops failing to import.")
@pass_context
def scheduler(obj: CliContext, cluster: str | None, cluster_timeout: float,
              workers: int | None, threads_per_worker: int | None, processes: bool,
              heartbeat: float, stale_after: float, loop_id: str | None,
              dashboard_address: str, quiet: bool) -> None:
    """Create scheduled runs and run every queued run, until Ctrl-C or SIGTERM.

    Runs come from the DAGs' schedules, `daskflow dags trigger`, `daskflow
    dags backfill` and `daskflow tasks clear`. Stopping hands running runs
    back for any loop to resume at once.

    Prints a line to stdout when a run is created, starts and ends (with its
    state and duration), and when a DAG file starts or stops failing to
    import; --quiet turns that off. Everything else goes to stderr.
    """
    if stale_after <= heartbeat:
        raise CliError(f"--stale-after ({stale_after:g}s) must be longer than --heartbeat "
                       f"({heartbeat:g}s), or other loops would take this loop's runs")
    obj.folder()
    store = obj.writable_store()
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see why a
    # scheduler does not stop, or seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = threading.Event()
    options = ClusterOptions(cluster, workers, threads_per_worker, processes, cluster_timeout,
                             dashboard_address=dashboard_address)
    with stop_on_signals(stop) as received, log_to_stderr(), events_to_stdout(quiet), \
            cluster_and_notifier(options) as (client, notifier):
        loop = build_loop(obj, store, client, notifier, loop_id=loop_id, heartbeat=heartbeat,
                          stale_after=stale_after)
        for line in describe_start(loop, store, client):
            echo_err(line)
        for line in describe_dashboard(client, None if cluster else dashboard_address):
            echo_err(line)
        _register(store, loop.loop_id, client)
        echo_err("Scheduler running; press Ctrl-C to stop.")
        try:
            loop.serve(stop)
        finally:
            _unregister(store, loop.loop_id)
        why = f" on {received[0]}" if received else ""
        echo_err(f"Scheduler {loop.loop_id} stopped{why}; its running runs are handed back "
                 "for any loop to resume.")


def _register(store: Any, loop_id: str, client: Any) -> None:
    """Record this loop and its dashboard, for `daskflow dashboard` (a failure only warns)."""
    from daskflow.execution.cluster import dashboard_base

    try:
        store.register_loop(loop_id, socket.gethostname(), dashboard_base(client),
                            datetime.now(timezone.utc))
    except Exception as exc:  # the loop works without it; `daskflow dashboard` will not
        echo_err(f"Could not record this loop's dashboard in the store ({exc}); "
                 "`daskflow dashboard` will not find it")


def _unregister(store: Any, loop_id: str) -> None:
    try:
        store.unregister_loop(loop_id)
    except Exception as exc:  # stopping goes on; the row names a loop that is gone
        echo_err(f"Could not remove this loop's dashboard from the store ({exc})")
