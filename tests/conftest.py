"""Fixtures shared by the whole suite: PostgreSQL, MariaDB, a Dask cluster, DAG helpers.

PostgreSQL tests work in a schema of their own (``search_path``), named after
the process, so they never touch tables other runs share in the ``test``
database; MariaDB tests (marker ``mysql``) likewise in a database of their
own. A missing server skips them with the reason, except under ``CI=true``,
where it fails them: CI must never pass by skipping a backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

PG_BASE_URL = os.environ.get(
    "DASKFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
MYSQL_BASE_URL = os.environ.get(
    "DASKFLOW_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
START_MYSQL = "service mariadb start"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: needs a PostgreSQL server; fails instead of skipping if CI=true"
    )
    config.addinivalue_line(
        "markers", "slow: starts processes (CLI, schedulers, parse processes, clusters), "
        "waits out timeouts or sweeps thousands of cases; -m 'not slow' leaves them out"
    )


def _missing_server(cause: object, what: str = "PostgreSQL", url: str = PG_BASE_URL,
                    start: str = START_PG) -> None:
    reason = f"{what} at {url} is not reachable ({cause}); start it: {start}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A URL whose connections work in a schema of their own, dropped at the end."""
    schema = f"daskflow_test_{os.getpid()}"
    engine = create_engine(PG_BASE_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except OperationalError as exc:
        engine.dispose()
        _missing_server(exc.orig)
    yield f"{PG_BASE_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A URL of a database of its own on the MariaDB server, dropped at the end
    (needs PyMySQL, in the ``test`` extra)."""
    database = f"daskflow_test_{os.getpid()}"
    try:
        engine = create_engine(MYSQL_BASE_URL, connect_args={"connect_timeout": 5})
        with engine.begin() as conn:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{database}`"))
    except (OperationalError, ImportError) as exc:
        _missing_server(getattr(exc, "orig", exc), "MariaDB", MYSQL_BASE_URL, START_MYSQL)
    yield MYSQL_BASE_URL.rsplit("/", 1)[0] + "/" + database
    with engine.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
    engine.dispose()


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """One LocalCluster of 2 worker processes x 1 thread, shared by the session."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=40)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'daskflow.db'}"


@pytest.fixture
def store(db_url):
    """An initialised SQLite store (test folders may define their own ``store``)."""
    from daskflow.store import Store

    opened = Store(db_url)
    opened.init()
    yield opened
    opened.dispose()
