"""Dashboard actions: off by default, never without a token, and what each one writes."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone

import dask.config
import pytest

from daskflow.dashboard import actions
from daskflow.dashboard.actions import ActionRefused, authorize
from daskflow.store.records import DagRecord, TaskInstanceRecord

DAY = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def no_token_env(monkeypatch):
    monkeypatch.delenv(actions.TOKEN_ENV, raising=False)


def test_actions_are_off_by_default_whatever_the_token(no_token_env):
    with pytest.raises(ActionRefused, match="actions are off"):
        authorize("anything")
    with dask.config.set({"daskflow.dashboard.token": "s3"}), \
            pytest.raises(ActionRefused, match="actions are off"):
        authorize("s3")


def test_enabled_actions_need_a_configured_token_and_the_right_one(no_token_env, monkeypatch):
    with dask.config.set({"daskflow.dashboard.actions": True}):
        with pytest.raises(ActionRefused, match="need a token"):
            authorize("")
        with dask.config.set({"daskflow.dashboard.token": "s3"}):
            for wrong in (None, "", "s4", "s3 "):
                with pytest.raises(ActionRefused, match="wrong token"):
                    authorize(wrong)
            authorize("s3")
        monkeypatch.setenv(actions.TOKEN_ENV, "from-env")
        authorize("from-env")


def _run_with_instance(store, state: str) -> None:
    store.create_dag_run("etl", "r1", DAY, None, None, "manual", None, state=state)
    store.create_task_instances([TaskInstanceRecord("etl", "r1", "load", state="failed",
                                                    try_number=1)])


def test_mark_is_refused_while_the_loop_drives_the_run(store):
    _run_with_instance(store, "running")
    with pytest.raises(ActionRefused, match="is running"):
        actions.mark(store, "etl", "r1", "load", -1, "success")
    assert store.get_task_instance("etl", "r1", "load").state == "failed"


def test_mark_sets_the_state_of_a_finished_runs_instance(store):
    _run_with_instance(store, "failed")
    assert "marked load success" in actions.mark(store, "etl", "r1", "load", -1, "success")
    assert store.get_task_instance("etl", "r1", "load").state == "success"
    with pytest.raises(ActionRefused, match="only mark"):
        actions.mark(store, "etl", "r1", "load", -1, "running")


def test_clear_queues_the_run_again_for_a_loop(store):
    _run_with_instance(store, "failed")
    actions.clear(store, "etl", "r1", "load", -1)
    assert store.get_task_instance("etl", "r1", "load").state is None
    assert store.get_dag_run("etl", "r1").state == "queued"


def test_pause_and_unpause(store):
    store.sync_dags([DagRecord("etl", "/nowhere/etl.py")])
    actions.set_paused(store, "etl", True)
    assert store.get_dag("etl").is_paused
    actions.set_paused(store, "etl", False)
    assert not store.get_dag("etl").is_paused


@pytest.mark.slow
def test_trigger_queues_a_manual_run_of_the_recorded_dag_file(store, tmp_path):
    path = tmp_path / "hourly.py"
    path.write_text(textwrap.dedent("""
        from datetime import datetime
        from daskflow import DAG
        from daskflow.operators import EmptyOperator
        with DAG("hourly", schedule="@hourly", start_date=datetime(2025, 1, 1)):
            EmptyOperator(task_id="noop")
    """))
    store.sync_dags([DagRecord("hourly", str(path))])
    now = datetime(2025, 3, 1, 10, 30, tzinfo=timezone.utc)
    answer = actions.trigger(store, "hourly", now)
    run = store.get_dag_run("hourly", f"manual__{now.isoformat()}")
    assert run is not None and run.state == "queued" and run.run_type == "manual"
    assert run.logical_date == now and run.run_id in answer
