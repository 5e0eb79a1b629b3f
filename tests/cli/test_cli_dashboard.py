"""Where the dashboard is: `daskflow scheduler` serves it on a fixed port and records it,
`daskflow dashboard` prints it, `dags test --keep-dashboard` keeps it up until Ctrl-C.

Real `daskflow` processes; the dashboard is fetched over HTTP.
"""

from __future__ import annotations

import re
import signal
import socket
import textwrap
import urllib.request
from pathlib import Path

import pytest
from cli_processes import Background, daskflow, environment

from daskflow.cli.dashboard import requested_port

THREADED = ("--threads", "--workers", "1")

HELLO = '''
from daskflow import DAG
from daskflow.operators import EmptyOperator

with DAG("hello", schedule=None):
    EmptyOperator(task_id="hello")
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "hello.py").write_text(textwrap.dedent(HELLO))
    return environment(tmp_path / "home", folder)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status


def _url(text: str, label: str) -> str:
    found = re.search(rf"{label}: (http://\S+)", text)
    assert found, f"no {label!r} line in:\n{text}"
    return found.group(1)


def test_requested_port():
    assert requested_port("127.0.0.1:8787") == 8787
    assert requested_port("0.0.0.0:0") is None
    assert requested_port("localhost") is None


def test_dashboard_without_a_running_scheduler_says_how_to_start_one(env):
    done = daskflow(env, "dashboard")
    assert done.returncode != 0
    assert "daskflow scheduler" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_scheduler_serves_its_dashboard_where_asked_and_the_dashboard_command_finds_it(
        env, tmp_path):
    port = _free_port()
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", *THREADED,
                           "--dashboard-address", f"127.0.0.1:{port}")
    try:
        scheduler.wait_until_logged("Scheduler running")
        url = _url(scheduler.stderr, "Dask dashboard")
        assert url == f"http://127.0.0.1:{port}/status"
        assert _status(url) == 200
        found = daskflow(env, "dashboard")
        assert found.returncode == 0, found.stderr
        assert found.stdout.strip() == f"http://127.0.0.1:{port}"
        assert "does not answer" not in found.stderr
    finally:
        code = scheduler.stop(signal.SIGINT)
    assert code == 0, scheduler.stderr
    # A loop that stopped is forgotten: nothing to point at any more.
    assert daskflow(env, "dashboard").returncode != 0


@pytest.mark.slow
def test_a_taken_dashboard_port_falls_back_to_a_free_one_with_a_message(env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", *THREADED,
                               "--dashboard-address", f"127.0.0.1:{port}")
        try:
            scheduler.wait_until_logged("Scheduler running")
            url = _url(scheduler.stderr, "Dask dashboard")
            assert f":{port}/" not in url
            assert f"Port {port} was taken" in scheduler.stderr
            assert _status(url) == 200
        finally:
            code = scheduler.stop(signal.SIGINT)
    assert code == 0, scheduler.stderr


@pytest.mark.slow
def test_dags_test_keeps_its_dashboard_up_after_the_run_until_ctrl_c(env, tmp_path):
    run = Background(env, tmp_path / "test.log", "dags", "test", "hello", *THREADED,
                     "--keep-dashboard", out=tmp_path / "test.out")
    try:
        run.wait_until_logged("press Ctrl-C to stop")
        assert "DAG run hello" in run.stdout and "success" in run.stdout
        url = _url(run.stderr, "Dask dashboard")
        assert _status(url) == 200  # the run is over; the dashboard is still there
    finally:
        code = run.stop(signal.SIGINT)
    assert code == 0, run.stderr
    assert "Dashboard stopped" in run.stderr
    assert "Traceback" not in run.stderr
