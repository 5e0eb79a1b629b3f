"""Fixtures the operator tests share."""

from __future__ import annotations

import pytest

from daskflow.store import Store


@pytest.fixture
def run_store(db_url, monkeypatch, tmp_path):
    """The store a test's runs record to and look connections up in.

    ``DASKFLOW_DB`` points elsewhere, so a task that read the environment
    instead of its run's store would not find its connection. (The workers were
    started before the test: the environment here does not reach them anyway.)
    """
    monkeypatch.setenv("DASKFLOW_DB", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    store = Store(db_url)
    store.init()
    yield store
    store.dispose()
