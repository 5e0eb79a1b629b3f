"""daskflow's settings, read through ``dask.config`` under ``daskflow``.

Registering the defaults is daskflow's one import-time effect. Every value
is read where it is used, at construction time, so tests can set them with
``dask.config.set``. The ``DASKFLOW_*`` environment variables that users of
an orchestrator expect (``DASKFLOW_HOME``, ``DASKFLOW_DB``,
``DASKFLOW_DAGS_FOLDER``) take precedence over the YAML files.
"""

from __future__ import annotations

import os
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


def db_url() -> str:
    url = os.environ.get("DASKFLOW_DB") or get("db")
    return url or f"sqlite:///{home() / 'daskflow.db'}"


def dags_folder() -> Path:
    value = os.environ.get("DASKFLOW_DAGS_FOLDER") or get("dags-folder")
    return Path(value).expanduser() if value else home() / "dags"


def results_url() -> str:
    """Where nodes keep outcomes for recovery (``execution/results.py``)."""
    return os.environ.get("DASKFLOW_RESULTS_URL") or get("results-url") or str(home() / "results")
