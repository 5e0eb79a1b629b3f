"""daskflow's settings, read through ``dask.config`` under ``daskflow``.

Registering the defaults is daskflow's one import-time effect. Every value
is read where it is used, at construction time, so tests can set them with
``dask.config.set``. The ``DASKFLOW_*`` environment variables that users of
an orchestrator expect (``DASKFLOW_HOME``, ``DASKFLOW_DB``,
``DASKFLOW_DAGS_FOLDER``) take precedence over the YAML files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import dask.config
import yaml

_DEFAULTS = Path(__file__).with_name("daskflow.yaml")


def _register() -> None:
    with open(_DEFAULTS) as f:
        defaults = yaml.safe_load(f)
    dask.config.update_defaults(defaults)


_register()


def get(name: str, default: Any = None) -> Any:
    """``daskflow.<name>`` from dask.config."""
    return dask.config.get(f"daskflow.{name}", default=default)


def home() -> Path:
    value = os.environ.get("DASKFLOW_HOME") or get("home") or "~/daskflow"
    return Path(value).expanduser()


#: The store of the run a task belongs to, while the task runs (see :func:`using_db`).
_RUN_DB: ContextVar[str | None] = ContextVar("daskflow_run_db", default=None)


def db_url() -> str:
    """The metadata store: inside a task, its run's; else ``DASKFLOW_DB``, the config, home."""
    url = _RUN_DB.get() or os.environ.get("DASKFLOW_DB") or get("db")
    return url or f"sqlite:///{home() / 'daskflow.db'}"


@contextmanager
def using_db(url: str | None) -> Iterator[None]:
    """Make :func:`db_url` answer ``url`` in this context (a task of a run recorded there).

    What a task reads from the store (another DAG's state, variables, connections,
    a run it triggers) then comes from the store its own run is recorded in.
    """
    token = _RUN_DB.set(url)
    try:
        yield
    finally:
        _RUN_DB.reset(token)


def dags_folder() -> Path:
    value = os.environ.get("DASKFLOW_DAGS_FOLDER") or get("dags-folder")
    return Path(value).expanduser() if value else home() / "dags"


def results_url() -> str:
    """Where nodes keep outcomes for recovery (``execution/results.py``)."""
    return os.environ.get("DASKFLOW_RESULTS_URL") or get("results-url") or str(home() / "results")
