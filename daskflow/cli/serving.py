"""What ``daskflow scheduler`` and ``daskflow dags backfill`` share: a loop, and a way to stop it.

Both commands drive a :class:`~daskflow.scheduler.loop.SchedulerLoop` on a
Dask client until something tells them to stop. The loop is built here from
the command's options and daskflow's settings (results location,
notifications, parsing), so the two commands cannot drift apart.

Stopping is cooperative: SIGINT (Ctrl-C) and SIGTERM only set an event that
the command checks between two steps of the loop, and the command then shuts
the loop down itself. A shut-down loop hands its runs back (owner and
heartbeat cleared), so another loop adopts them at once instead of waiting
for them to go stale. A second Ctrl-C raises ``KeyboardInterrupt`` at once,
for when a clean stop hangs.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from daskflow.cli.context import CliContext
from daskflow.cli.errors import last_line
from daskflow.cli.options import ClusterOptions

if TYPE_CHECKING:  # imported where used: they pull in Dask and SQLAlchemy
    from daskflow.notifications import Notifier
    from daskflow.scheduler.loop import SchedulerLoop

#: The loop's defaults, repeated as the CLI's defaults so ``--help`` shows them.
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 10.0


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[list[str]]:
    """Set ``stop`` on SIGINT or SIGTERM while inside; yield the names of signals received.

    Handlers can only be installed from the main thread; elsewhere (a test
    calling the command from a thread) nothing is installed and only
    ``stop`` stops the loop.
    """
    received: list[str] = []

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while inside, e.g. while a LocalCluster starts its worker processes.

    Ctrl-C in a terminal sends SIGINT to every process of the foreground
    group, worker processes included: they would die at once, with
    tracebacks, before the loop could stop cleanly. A process started while
    SIGINT is ignored inherits that, and Python then leaves it ignored, so
    the workers live until the cluster is closed in order.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def cluster_and_notifier(options: ClusterOptions) -> Iterator[tuple[Any, Notifier]]:
    """A client of the command's cluster and a notifier from the settings, closed on exit.

    A LocalCluster's worker processes start with SIGINT ignored (see
    :func:`sigint_ignored`); an existing cluster is left running.
    """
    from daskflow.execution.cluster import connect
    from daskflow.notifications import Notifier

    with contextlib.ExitStack() as stack:
        with sigint_ignored():
            client = stack.enter_context(connect(
                options.address, workers=options.workers,
                threads_per_worker=options.threads_per_worker, processes=options.processes,
                dashboard_address=options.dashboard_address, timeout=options.timeout))
        yield client, stack.enter_context(Notifier())


def build_loop(obj: CliContext, store: Any, client: Any, notifier: Any, *,
               loop_id: str | None = None, heartbeat: float = HEARTBEAT_SECONDS,
               stale_after: float = STALE_AFTER_SECONDS,
               create_scheduled: bool = True) -> SchedulerLoop:
    """A loop over the command's DAG folder, parsed once so its errors can be shown now.

    The files are imported in parse processes (``daskflow.parse-*`` settings),
    whose output goes to stderr.
    """
    from daskflow import config
    from daskflow.dashboard.store_access import show_store
    from daskflow.scheduler.dag_folder import DagFolder
    from daskflow.scheduler.loop import SchedulerLoop

    show_store(store.url.render_as_string(hide_password=False))  # the embedded dashboard's store
    folder = DagFolder(obj.folder(), store)
    folder.refresh(wait=True)
    return SchedulerLoop(folder, store, client, results_url=config.results_url(),
                         notifier=notifier, loop_id=loop_id, heartbeat_interval=heartbeat,
                         stale_after=timedelta(seconds=stale_after),
                         parse_interval=float(config.get("parse-interval", 5.0)),
                         create_scheduled=create_scheduled)


def describe_start(loop: SchedulerLoop, store: Any, client: Any) -> list[str]:
    """The lines a loop prints to stderr when it starts: who it is, where it reads and runs.

    Where its dashboard is comes after them (``cli/dashboard.py``).
    """
    from daskflow.store.engine import mask_url

    folder = loop.folder
    dags = ", ".join(sorted(folder.dags)) or "none"
    lines = [f"Loop id: {loop.loop_id}",
             f"DAG folder: {folder.folder} ({len(folder.dags)} DAGs: {dags})",
             f"Metadata store: {mask_url(store.url)}"]
    lines += [f"Import error in {path}: {last_line(trace)}"
              for path, trace in sorted(folder.errors.items())]
    return lines


@contextlib.contextmanager
def log_to_stderr(level: int = logging.INFO) -> Iterator[None]:
    """Show what the loop logs (runs failed, callbacks that raised, alerts not sent)."""
    logger = logging.getLogger("daskflow")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextlib.contextmanager
def events_to_stdout(quiet: bool = False) -> Iterator[None]:
    """Print the loop's events (``scheduler/events.py``) to stdout, one timestamped line each.

    ``quiet`` prints nothing. Each line is flushed at once, so a log file or
    a pipe gets it when it happens; a closed stdout only loses the lines.
    """
    if quiet:
        yield
        return
    from daskflow.scheduler import events

    def show(line: str) -> None:
        try:
            click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    with events.listening(show):
        yield


def echo_err(line: str) -> None:
    """One line on stderr: everything a loop command says besides its result."""
    click.echo(line, err=True)
