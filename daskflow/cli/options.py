"""Options that carry run input (``--logical-date``, ``--conf``, ``--cluster``), checked early.

They are validated by click callbacks, so a bad value stops the command
before any DAG file is imported, any store is opened or any cluster is
started: nothing is written half-way. Each error is one line naming the option.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import click

from daskflow.cli.errors import CliError
from daskflow.exceptions import DaskflowError

F = TypeVar("F", bound=Callable[..., Any])


def setting(name: str, default: Any = None) -> Callable[[], Any]:
    """A click default read from the ``daskflow.<name>`` setting when the command runs.

    Reading settings imports ``dask.config``; ``--help`` does not need them.
    """
    def read() -> Any:
        from daskflow import config

        return config.get(name, default)

    return read


@dataclass(frozen=True)
class ClusterOptions:
    """Where to run: an existing scheduler's address, or the shape of a LocalCluster."""

    address: str | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    processes: bool = True
    timeout: float = 10.0
    #: Where a LocalCluster's dashboard listens (None: the ``local-cluster.dashboard-address``).
    dashboard_address: str | None = None


def parse_conf(value: str | None) -> dict[str, Any]:
    """``--conf`` as a dict; anything but a JSON object is an error naming ``--conf``.

    >>> parse_conf('{"rows": 3}')
    {'rows': 3}
    >>> parse_conf('[1]')
    Traceback (most recent call last):
    ...
    daskflow.cli.errors.CliError: --conf must be a JSON object like '{"key": 1}', got a list
    """
    if value is None:
        return {}
    try:
        conf = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CliError(f"--conf is not valid JSON ({exc.msg} at position {exc.pos}): "
                       f"{value!r}") from None
    if not isinstance(conf, dict):
        raise CliError("--conf must be a JSON object like '{\"key\": 1}', "
                       f"got {_kind(conf)}")
    return conf


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def parse_date(value: str | None) -> datetime | None:
    """``--logical-date`` as an aware datetime (naive means UTC); ``None`` means now."""
    if value is None:
        return None
    from daskflow.execution.single_run import parse_logical_date

    try:
        return parse_logical_date(value, datetime.now(timezone.utc))
    except DaskflowError as exc:
        raise CliError(str(exc)) from None


def parse_cluster(value: str | None) -> str | None:
    """``--cluster`` checked to be a Dask scheduler address such as ``tcp://host:8786``."""
    if not value:
        return None
    from distributed.comm.addressing import get_address_host_port

    try:
        get_address_host_port(value)
    except ValueError as exc:
        raise CliError(f"--cluster {value!r} is not a Dask scheduler address ({exc}); "
                       "use tcp://HOST:PORT as printed by `dask scheduler`") from None
    return value


def cluster_option(fn: F) -> F:
    return click.option(
        "--cluster", metavar="ADDRESS", default=setting("cluster"),
        callback=lambda ctx, param, value: parse_cluster(value),
        help="Address of a running Dask scheduler. [default: start the "
             "daskflow.cluster-class cluster, else a LocalCluster]",
    )(fn)


def cluster_timeout_option(fn: F) -> F:
    return click.option(
        "--cluster-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
        show_default=True, metavar="SECONDS",
        help="How long to try reaching the --cluster scheduler.",
    )(fn)


def local_cluster_options(fn: F) -> F:
    """``--workers``, ``--threads-per-worker``, ``--processes/--threads``: a LocalCluster's shape.

    They matter only without ``--cluster``; the defaults come from the
    ``daskflow.local-cluster.*`` settings. ``--workers`` also sizes a
    ``daskflow.cluster-class`` cluster.
    """
    options = (
        click.option("--workers", type=click.IntRange(min=1),
                     default=setting("local-cluster.workers"),
                     help="Workers of the cluster started: a LocalCluster, or "
                          "daskflow.cluster-class. [default: Dask's choice]"),
        click.option("--threads-per-worker", type=click.IntRange(min=1),
                     default=setting("local-cluster.threads-per-worker"),
                     help="LocalCluster: threads per worker."),
        click.option("--processes/--threads",
                     default=lambda: bool(setting("local-cluster.processes", True)()),
                     help="LocalCluster: workers in processes, or threads of this process."),
    )
    for option in reversed(options):
        fn = option(fn)
    return fn


def logical_date_option(fn: F) -> F:
    return click.option(
        "--logical-date", "-d", metavar="DATE",
        callback=lambda ctx, param, value: parse_date(value),
        help="Logical date of the run, ISO format (2025-01-31 or 2025-01-31T06:00+00:00). "
             "[default: now]",
    )(fn)


def conf_option(fn: F) -> F:
    return click.option(
        "--conf", "-c", metavar="JSON", callback=lambda ctx, param, value: parse_conf(value),
        help="The run's conf, a JSON object; its keys override the DAG's params.",
    )(fn)
