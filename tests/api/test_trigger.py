"""``daskflow.trigger`` queues a run that a real ``daskflow scheduler`` subprocess runs;
the handle follows it through the store (SQLite, and PostgreSQL)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

import daskflow
from daskflow import api
from daskflow.exceptions import DagNotFound

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_processes import Background, environment, wait_for  # noqa: E402

GREET = '''
from daskflow import DAG, task

with DAG("greet_api", schedule=None) as dag:
    @task
    def hello(**context):
        who = context["dag_run"].conf.get("who", "nobody")
        print("hello", who)
        return f"hello {who}"

    @task
    def shout(text):
        return text.upper()

    shout(hello())
'''


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'daskflow.db'}"
    return request.getfixturevalue("pg_url")


@pytest.mark.slow
def test_a_triggered_run_is_run_by_a_scheduler_and_followed_from_python(tmp_path, db,
                                                                        monkeypatch):
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "greet.py").write_text(textwrap.dedent(GREET))
    env = environment(tmp_path / "home", folder, DASKFLOW_DB=db)
    monkeypatch.setenv("DASKFLOW_HOME", str(tmp_path / "home"))
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", "--threads",
                           "--workers", "1")
    try:
        scheduler.wait_until_logged("Scheduler running")
        wait_for(lambda: any(d.dag_id == "greet_api" for d in api.list_dags(db=db)),
                 "the scheduler to record the DAG")

        handle = daskflow.trigger("greet_api", conf={"who": "python"}, db=db)
        assert handle.run_id.startswith("manual__")
        assert handle.state() in ("queued", "running", "success")

        result = handle.wait(timeout=120)
        assert result.state == "success", scheduler.stderr
        assert handle.task_states() == {"hello": "success", "shout": "success"}
        assert handle.xcom("shout") == "HELLO PYTHON"
        assert handle.result() == {"hello": "hello python", "shout": "HELLO PYTHON"}
        assert "hello python" in handle.logs("hello")
        assert api.get_run("greet_api", handle.run_id, db=db).run_type == "manual"

        later = daskflow.trigger("greet_api", conf={"who": "asyncio"}, db=db)
        awaited = asyncio.run(_await(later))
        assert awaited.state == "success"
        assert awaited.xcom("shout") == "HELLO ASYNCIO"
    finally:
        code = scheduler.stop()
        api.shutdown()
    assert code == 0, scheduler.stderr


async def _await(handle):
    return await handle


def test_triggering_an_unknown_dag_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DASKFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASKFLOW_DAGS_FOLDER", str(tmp_path / "no-dags"))
    with pytest.raises(DagNotFound, match="DAG 'ghost' not found"):
        daskflow.trigger("ghost", db=f"sqlite:///{tmp_path / 'daskflow.db'}")
