"""``daskflow cluster local|ssh|class``: start a Dask cluster and keep it in the foreground.

Each prints the scheduler's address and the dashboard's URL on stdout, so
other commands (``daskflow scheduler --cluster ADDRESS``, ``daskflow dags
test --cluster ADDRESS``) and Python code can run on it, then waits. Ctrl-C
or SIGTERM closes the cluster, workers included, and exits 0. Worker
processes of a local cluster start with SIGINT ignored, so a terminal's
Ctrl-C, which reaches the whole process group, does not kill them before the
cluster closes them in order.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import click

from daskflow.cli.errors import CliError
from daskflow.cli.serving import echo_err, sigint_ignored, stop_on_signals

POSITIVE = click.IntRange(min=1)
PORT = click.IntRange(min=0, max=65535)


def parse_memory_limit(value: str | None) -> str | None:
    """``--memory-limit`` checked to be ``auto`` or a size Dask reads (``4GiB``, ``2e9``).

    >>> parse_memory_limit("4GiB")
    '4GiB'
    >>> parse_memory_limit("lots")
    Traceback (most recent call last):
    ...
    daskflow.cli.errors.CliError: --memory-limit 'lots' is not a size; write e.g. 4GiB, 2e9 or auto
    """
    if value is None or value == "auto":
        return value
    from dask.utils import parse_bytes

    try:
        parse_bytes(value)
    except ValueError:
        raise CliError(f"--memory-limit {value!r} is not a size; write e.g. 4GiB, 2e9 "
                       "or auto") from None
    return value


def memory_limit_option(fn: Any) -> Any:
    return click.option(
        "--memory-limit", metavar="SIZE",
        callback=lambda ctx, param, value: parse_memory_limit(value),
        help="Memory of each worker, e.g. 4GiB, or auto. [default: Dask's choice]")(fn)


@click.group("cluster")
def cluster_group() -> None:
    """Start a Dask cluster in the foreground for daskflow to run on, until Ctrl-C."""


@cluster_group.command("local")
@click.option("--workers", type=POSITIVE, help="Number of workers. [default: Dask's choice]")
@click.option("--threads-per-worker", type=POSITIVE, help="Threads of each worker.")
@memory_limit_option
@click.option("--processes/--threads", default=True,
              help="Workers in processes of their own, or threads of this process.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address the scheduler listens on (0.0.0.0: every interface).")
@click.option("--port", type=PORT, default=8786, show_default=True,
              help="The scheduler's port; 0 picks a free one.")
@click.option("--dashboard-address", default="127.0.0.1:8787", show_default=True,
              metavar="[HOST]:PORT", help="Where the dashboard listens; :0 picks a free port.")
def local_command(workers: int | None, threads_per_worker: int | None,
                  memory_limit: str | None, processes: bool, host: str, port: int,
                  dashboard_address: str) -> None:
    """A Dask cluster on this machine.

    Its dashboard has daskflow's pages.
    """
    from daskflow.execution.standalone import WorkerShape, local_cluster

    with sigint_ignored():
        cluster = local_cluster(workers=workers, processes=processes, host=host, port=port,
                                shape=WorkerShape(threads_per_worker, memory_limit),
                                dashboard_address=dashboard_address)
    serve_cluster(cluster)


@cluster_group.command("ssh")
@click.argument("hosts", nargs=-1, required=True)
@click.option("--workers-per-host", type=POSITIVE, default=1, show_default=True,
              help="Worker processes on each worker host.")
@click.option("--threads-per-worker", type=POSITIVE, help="Threads of each worker.")
@memory_limit_option
@click.option("--remote-python", metavar="PATH",
              help="Python on the hosts, in an environment with daskflow installed. "
                   "[default: this Python's path]")
@click.option("--ssh-username", metavar="USER", help="User to log in as. [default: ssh's]")
@click.option("--ssh-port", type=PORT, help="sshd's port on the hosts. [default: 22]")
@click.option("--ssh-key", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Private key to log in with. [default: ssh's keys and agent]")
@click.option("--known-hosts", metavar="FILE",
              help="known_hosts file to check host keys against; 'none' checks none. "
                   "[default: ~/.ssh/known_hosts]")
@click.option("--interface", metavar="NAME",
              help="Network interface the scheduler and workers listen on (eth0, ib0, lo). "
                   "[default: Dask's choice]")
@click.option("--port", type=PORT, default=8786, show_default=True,
              help="The scheduler's port on the first host; 0 picks a free one.")
@click.option("--dashboard-address", default=":8787", show_default=True,
              metavar="[HOST]:PORT", help="Where the dashboard listens on the first host.")
def ssh_command(hosts: tuple[str, ...], workers_per_host: int,
                threads_per_worker: int | None, memory_limit: str | None,
                remote_python: str | None, ssh_username: str | None, ssh_port: int | None,
                ssh_key: str | None, known_hosts: str | None, interface: str | None,
                port: int, dashboard_address: str) -> None:
    """A Dask cluster on other machines, over SSH.

    The scheduler runs on the first HOST, workers on the others. Repeat a
    host to give it workers too (`daskflow cluster ssh a a b`).
    """
    from daskflow.execution.standalone import SshLogin, WorkerShape, ssh_cluster

    echo_err(f"Starting the scheduler on {hosts[0]} and workers on "
             f"{', '.join(hosts[1:]) or 'no host'} over SSH ...")
    cluster = ssh_cluster(
        hosts, login=SshLogin(ssh_username, ssh_port, ssh_key, known_hosts),
        workers_per_host=workers_per_host, shape=WorkerShape(threads_per_worker, memory_limit),
        remote_python=remote_python, port=port, dashboard_address=dashboard_address,
        interface=interface)
    serve_cluster(cluster)


@cluster_group.command("class")
@click.argument("class_path", metavar="[CLASS]", required=False)
@click.option("--kwargs", "kwargs_json", metavar="JSON",
              help="Keyword arguments of CLASS, a JSON object.")
@click.option("--workers", type=click.IntRange(min=0), help="Scale to this many workers.")
@click.option("--minimum", type=click.IntRange(min=0), help="Adapt: fewest workers.")
@click.option("--maximum", type=click.IntRange(min=1), help="Adapt: most workers.")
def class_command(class_path: str | None, kwargs_json: str | None, workers: int | None,
                  minimum: int | None, maximum: int | None) -> None:
    """A cluster of any Dask deployment class.

    CLASS is an import path such as dask_jobqueue.SLURMCluster. Without
    CLASS, or with the configured one, the daskflow.cluster-class,
    cluster-kwargs and cluster-scale settings apply; --kwargs updates the
    keyword arguments and the size options replace the configured size.
    """
    from daskflow.execution.cluster_class import load_cluster_class, start_cluster

    spec = command_spec(class_path, parse_kwargs(kwargs_json), workers, minimum, maximum)
    load_cluster_class(spec.class_path)  # a bad path is the only line printed
    echo_err(f"Starting {spec.class_path}, sized {spec.scaling()} ...")
    with sigint_ignored():
        cluster = start_cluster(spec)
    serve_cluster(cluster)


def command_spec(class_path: str | None, kwargs: dict[str, Any], workers: int | None,
                 minimum: int | None, maximum: int | None) -> Any:
    """The settings' cluster with the command line's changes, or the command line's alone
    when it names another class."""
    from daskflow.execution.cluster_class import ClusterSpec, spec_from_config

    base = spec_from_config()
    if base is None or class_path not in (None, base.class_path):
        if class_path is None:
            raise CliError("name a Dask cluster class (`daskflow cluster class "
                           "dask_jobqueue.SLURMCluster`) or set daskflow.cluster-class")
        base = ClusterSpec(class_path)
    if workers is None and minimum is None and maximum is None:
        workers, minimum, maximum = base.workers, base.minimum, base.maximum
    return ClusterSpec(base.class_path, {**base.kwargs, **kwargs}, workers=workers,
                       minimum=minimum, maximum=maximum)


def parse_kwargs(value: str | None) -> dict[str, Any]:
    """``--kwargs`` as a dict.

    >>> parse_kwargs('{"cores": 4}')
    {'cores': 4}
    """
    if not value:
        return {}
    try:
        kwargs = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CliError(f"--kwargs is not valid JSON ({exc.msg}): {value!r}") from None
    if not isinstance(kwargs, dict):
        raise CliError(f"--kwargs must be a JSON object like '{{\"cores\": 4}}', got {value!r}")
    return kwargs


def serve_cluster(cluster: Any) -> None:
    """Print where ``cluster`` is, wait for SIGINT or SIGTERM, then close it."""
    from daskflow.execution.standalone import dashboard_link

    address = cluster.scheduler_address
    if address.startswith("inproc://"):
        cluster.close()
        raise CliError(f"the cluster's scheduler ({address}) can only be reached from inside "
                       "this process; start it with a network protocol (for "
                       "distributed.LocalCluster: \"protocol\": \"tcp://\" in --kwargs)")
    stop = threading.Event()
    try:
        with stop_on_signals(stop) as received:
            click.echo(f"Scheduler: {address}")
            click.echo(f"Dashboard: {dashboard_link(cluster) or 'not available'}")
            echo_err(f"Cluster running; run DAGs on it with --cluster {address}. "
                     "Press Ctrl-C to stop it.")
            while not stop.wait(0.5):
                pass
    finally:
        cluster.close()
    why = f" on {received[0]}" if received else ""
    echo_err(f"Cluster stopped{why}; its workers are gone.")
