"""``daskflow dashboard``: where the running deployment's dashboard is, and how loops say it.

The Dask dashboard (and daskflow's pages in it, under ``/daskflow/dags``) is
served by the Dask scheduler: the LocalCluster inside ``daskflow scheduler``,
or the cluster ``--cluster`` names. A loop records that URL in the metadata
store when it starts and removes it when it stops (``Store.register_loop``),
so this command finds it from any machine that reaches the store, including
when the loop runs elsewhere. A loop that was killed leaves its URL behind;
the command says when a recorded dashboard does not answer.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import webbrowser
from typing import Any

import click

from daskflow.cli.context import CliContext, db_option, pass_context
from daskflow.cli.errors import CliError

#: Where daskflow's own pages start inside the Dask dashboard.
PAGES_PATH = "/daskflow/dags"
#: Seconds to wait for a dashboard to answer before calling it unreachable.
PROBE_TIMEOUT = 3.0


def answers(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether ``url`` answers an HTTP GET with a success."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def requested_port(address: str | None) -> int | None:
    """The port in a ``HOST:PORT`` dashboard address (None: none, or 0 for any port).

    >>> requested_port("127.0.0.1:8787"), requested_port(":0"), requested_port(None)
    (8787, None, None)
    """
    if not address or ":" not in address:
        return None
    port = address.rsplit(":", 1)[1]
    return int(port) if port.isdigit() and int(port) else None


def describe(client: Any, requested: str | None = None) -> list[str]:
    """The lines saying where the dashboard is, for a loop or a test run to print.

    ``requested`` is the address a started LocalCluster was asked to serve
    its dashboard on: when Dask had to take another port, the lines say so.
    """
    from daskflow.execution.cluster import dashboard_base, local_dashboard_port

    base = dashboard_base(client)
    if base is None:
        return ["Dask dashboard: not available (install bokeh to have one)"]
    lines = [f"Dask dashboard: {base}/status"]
    wanted, got = requested_port(requested), local_dashboard_port(client)
    if wanted is not None and got is not None and got != wanted:
        lines.append(f"Port {wanted} was taken (another Dask dashboard?), so the dashboard is "
                     f"on port {got}; choose a port with --dashboard-address HOST:PORT or "
                     "daskflow.local-cluster.scheduler-dashboard-address")
    if answers(base + PAGES_PATH):
        lines.append(f"daskflow's pages: {base}{PAGES_PATH}")
    return lines


@click.command("dashboard")
@db_option
@click.option("--open", "open_browser", is_flag=True,
              help="Open the dashboard in a web browser instead of printing its URL only.")
@pass_context
def dashboard(obj: CliContext, open_browser: bool) -> None:
    """Print the URL of the running deployment's dashboard (--open: open it).

    The URL is the one the newest running `daskflow scheduler` recorded in
    the metadata store. Other loops still recorded there are listed on
    stderr.
    """
    from daskflow.store.engine import mask_url

    store = obj.existing_store()
    loops = [loop for loop in store.list_loops() if loop.dashboard_url] if store else []
    if not loops:
        raise CliError(f"no running `daskflow scheduler` has recorded a dashboard in the "
                       f"metadata store {mask_url(obj.url)!r}; start one with `daskflow "
                       "scheduler`, or pass the store it uses with --db")
    newest, others = loops[0], loops[1:]
    url = newest.dashboard_url
    for loop in others:
        click.echo(f"Also recorded: loop {loop.loop_id} on {loop.hostname}: "
                   f"{loop.dashboard_url}", err=True)
    if not answers(url):
        click.echo(f"The dashboard of loop {newest.loop_id} on {newest.hostname} does not "
                   "answer from here (the loop may have been killed, or it listens on "
                   "another machine's 127.0.0.1)", err=True)
    click.echo(url)
    if open_browser and not webbrowser.open(url):
        raise CliError(f"no web browser could be started here; open {url} yourself")
