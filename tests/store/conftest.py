"""Fixtures for the store's contract suite: one fresh ``Store`` per test and backend.

Every test that takes ``store`` runs twice, on a SQLite file and on the PostgreSQL
server (the ``pg_url`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daskflow.store import Store


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
