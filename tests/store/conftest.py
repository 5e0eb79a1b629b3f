"""Fixtures for the store's contract suite: one fresh ``Store`` per test and backend.

Every test that takes ``store`` runs twice, on a SQLite file and on the PostgreSQL
server at ``DASKFLOW_TEST_PG_URL`` (default: the local trust-auth server). On
PostgreSQL the suite works in its own schema (``search_path``), named after the
process, so it never touches tables other test runs share in the same database.

A missing PostgreSQL server skips those tests with the reason, except under
``CI=true``, where it fails them: CI must never pass by skipping a backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from daskflow.store import Store

PG_BASE_URL = os.environ.get(
    "DASKFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: needs a PostgreSQL server; fails instead of skipping if CI=true"
    )


def _missing_server(cause: object) -> None:
    reason = f"PostgreSQL at {PG_BASE_URL} is not reachable ({cause}); start it: {START_PG}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A URL whose connections work in a schema of their own, dropped at the end."""
    schema = f"daskflow_store_test_{os.getpid()}"
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty-or-reset database on each backend."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'nested' / 'daskflow.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store with a freshly created schema and nothing in it but ``default_pool``."""
    opened = Store(store_url)
    opened.reset()
    yield opened
    opened.dispose()
