"""A finished run of the monitored DAG (a failure, a retry, mapping, a masked secret)
recorded in a store of its own, shared by the dashboard tests that only read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from daskflow.execution.single_run import RunResult, run_once
from daskflow.store import Store


@pytest.fixture(scope="module")
def finished_run(dask_client: Any, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[str, RunResult]]:
    """``(db_url, result)`` of one run of ``monitored`` on the session's cluster."""
    from monitored_dag import build

    folder = tmp_path_factory.mktemp("monitored")
    url = f"sqlite:///{folder / 'daskflow.db'}"
    result = run_once(build(str(folder / "flaky-flag")), cluster=dask_client, db=url)
    yield url, result
    Store(url).dispose()
