"""The pages on a Dask scheduler started separately: with ``--preload daskflow.dashboard``,
and with :class:`DashboardPlugin` registered from a client; each reads the store
named by ``DASKFLOW_DB`` in the scheduler's environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import cloudpickle
import pytest
from browser import bokeh_data, browser, open_page

from daskflow.store import Store
from daskflow.store.records import DagRecord

pytestmark = pytest.mark.slow
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # run_on_scheduler below


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=10).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def recorded_store(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'daskflow.db'}"
    store = Store(url)
    store.init()
    store.sync_dags([DagRecord("remote_dag", "/dags/remote.py", schedule="@hourly",
                               owner="grace")])
    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    store.create_dag_run("remote_dag", "scheduled__1", day, None, None, "scheduled", None,
                         state="success")
    store.dispose()
    return url


def _scheduler(db_url: str, log: Path, *extra: str, prefix: str = ""
               ) -> Iterator[tuple[str, str]]:
    """A ``dask scheduler`` process of this test's own (its dashboard under ``prefix``);
    its log goes to ``log``."""
    port, dashboard = _free_port(), _free_port()
    env = {**os.environ, "DASKFLOW_DB": db_url}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(port), "--dashboard-address", f"127.0.0.1:{dashboard}",
             *(["--dashboard-prefix", prefix] if prefix else []), *extra],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        root = f"http://127.0.0.1:{dashboard}{prefix}"
        _wait_http(f"{root}/status")
        yield f"tcp://127.0.0.1:{port}", root
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _check_pages(root: str) -> None:
    with browser() as chromium:
        page = open_page(chromium, f"{root}/status", "Daskflow")
        page.get_by_role("link", name="Daskflow").click()
        page.get_by_text("remote_dag").first.wait_for(timeout=90_000)
        data = bokeh_data(page, "dags")
        assert data["owner"] == ["grace"] and data["schedule"] == ["@hourly"]
        page.close()
        page = open_page(chromium, f"{root}/daskflow/grid?dag_id=remote_dag", "scheduled__1")
        assert bokeh_data(page, "grid-runs")["state"] == ["success"]
        page.close()


def test_pages_on_a_scheduler_started_with_the_preload_behind_a_prefix(recorded_store,
                                                                       tmp_path):
    for _, root in _scheduler(recorded_store, tmp_path / "scheduler.log",
                              "--preload", "daskflow.dashboard", prefix="/dask"):
        _check_pages(root)


def _daskflow_apps(dask_scheduler) -> int:
    from daskflow.dashboard.mounting import _bokeh_applications

    return sum("/daskflow/dags" in app.app_paths for app in _bokeh_applications(dask_scheduler))


def test_pages_from_the_scheduler_plugin_and_mounting_twice_is_harmless(recorded_store,
                                                                       tmp_path):
    from distributed import Client

    from daskflow.dashboard.mounting import DashboardPlugin

    for address, root in _scheduler(recorded_store, tmp_path / "scheduler.log"):
        with urllib.request.urlopen(f"{root}/status", timeout=60) as response:
            assert b"daskflow" not in response.read()
        with Client(address) as client:
            client.register_plugin(DashboardPlugin())
            client.register_plugin(DashboardPlugin(), name="again")
            assert client.run_on_scheduler(_daskflow_apps) == 1
        _check_pages(root)


def test_pages_of_daskflow_scheduler_read_the_store_given_with_db(tmp_path):
    """`daskflow scheduler --db X` on the embedded cluster: its dashboard shows store X,
    not the configured default."""
    import re
    import signal
    import textwrap

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "tiny.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from daskflow import DAG
        from daskflow.operators import EmptyOperator
        with DAG("tiny_for_dashboard", schedule="@daily", start_date=datetime(2025, 1, 1)):
            EmptyOperator(task_id="noop")
    """))
    env = {**os.environ, "DASKFLOW_HOME": str(tmp_path / "home")}
    env.pop("DASKFLOW_DB", None)
    log = tmp_path / "scheduler.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "daskflow.cli.main", "scheduler", "--dags-folder", str(dags),
             "--db", f"sqlite:///{tmp_path / 'given.db'}", "--workers", "1"],
            env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (found := re.search(r"Dask dashboard: (http://\S+)/status", log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with browser() as chromium:
            page = open_page(chromium, f"{found.group(1)}/daskflow/dags", "tiny_for_dashboard")
            assert bokeh_data(page, "dags")["dag_id"] == ["tiny_for_dashboard"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
