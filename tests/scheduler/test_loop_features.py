"""Loop behaviours Airflow users rely on, on a real LocalCluster and SQLite."""

from __future__ import annotations

import socket
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dask
import pytest
from loop_driving import drive_for, drive_until, write_dag

from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop, utcnow
from daskflow.store import Store


def _loop(tmp_path: Path, store: Store, client, **kwargs) -> SchedulerLoop:
    folder = DagFolder(tmp_path / "dags", store)
    return SchedulerLoop(folder, store, client, results_url=str(tmp_path / "results"),
                         parse_interval=0.2, **kwargs)


def test_catchup_false_creates_only_the_latest_interval(dask_client, store, tmp_path):
    write_dag(tmp_path / "dags", "daily", '''
        from datetime import datetime, timedelta, timezone
        from daskflow import DAG
        from daskflow.operators import EmptyOperator
        with DAG("daily", schedule="@daily", catchup=False,
                 start_date=datetime.now(timezone.utc) - timedelta(days=10)):
            EmptyOperator(task_id="t")
    ''')
    loop = _loop(tmp_path, store, dask_client)
    try:
        drive_until(loop, lambda: store.list_dag_runs("daily", state="success"))
        drive_for(loop, 1.0)
    finally:
        loop.shutdown()
    runs = store.list_dag_runs("daily")
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    assert [r.logical_date for r in runs] == [today - timedelta(days=1)]
    assert runs[0].data_interval_end == today


@pytest.mark.slow
def test_a_paused_dag_gets_no_runs_until_unpaused(dask_client, store, tmp_path):
    write_dag(tmp_path / "dags", "paused", '''
        from datetime import datetime, timedelta, timezone
        from daskflow import DAG
        from daskflow.operators import EmptyOperator
        with DAG("paused", schedule="@hourly", catchup=False, is_paused_upon_creation=True,
                 start_date=datetime.now(timezone.utc) - timedelta(days=1)):
            EmptyOperator(task_id="t")
    ''')
    loop = _loop(tmp_path, store, dask_client)
    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    try:
        drive_for(loop, 0.5)
        store.create_dag_run("paused", "manual__1", day, day, day, "manual", {}, state="queued")
        later = day + timedelta(days=1)
        store.create_dag_run("paused", "backfill__1", later, later, later, "backfill", {},
                             state="queued")
        drive_until(loop, lambda: store.get_dag_run("paused", "backfill__1").state == "success")
        drive_for(loop, 1.0)
        # As in Airflow, a paused DAG gets no scheduled runs and its triggered run
        # waits; a backfill, asked for explicitly, runs.
        assert {r.run_id: r.state for r in store.list_dag_runs("paused")} == {
            "manual__1": "queued", "backfill__1": "success"}
        store.set_paused("paused", False)
        drive_until(loop, lambda: store.get_dag_run("paused", "manual__1").state == "success")
        drive_until(loop, lambda: store.list_dag_runs("paused", state="success") and any(
            r.run_type == "scheduled" for r in store.list_dag_runs("paused")))
    finally:
        loop.shutdown()


@pytest.mark.slow
def test_dagrun_timeout_fails_the_run_and_skips_what_did_not_finish(dask_client, store,
                                                                      tmp_path):
    write_dag(tmp_path / "dags", "slow", '''
        from datetime import timedelta
        from daskflow import DAG
        from daskflow.operators import BashOperator, EmptyOperator
        with DAG("slow", dagrun_timeout=timedelta(seconds=2)):
            sleepy = BashOperator(task_id="sleepy", bash_command="sleep 20")
            sleepy >> EmptyOperator(task_id="after")
    ''')
    loop = _loop(tmp_path, store, dask_client)
    try:
        loop.folder.refresh()
        now = utcnow()
        store.create_dag_run("slow", "manual__1", now, now, now, "manual", {}, state="queued")
        drive_until(loop, lambda: store.get_dag_run("slow", "manual__1").state == "failed")
    finally:
        loop.shutdown()
    states = {t.task_id: t.state for t in store.list_task_instances("slow", "manual__1")}
    assert states == {"sleepy": "skipped", "after": "skipped"}


def _state(store: Store, dag_id: str, run_id: str, task_id: str) -> str | None:
    ti = store.get_task_instance(dag_id, run_id, task_id)
    return None if ti is None else ti.state


@pytest.mark.slow
def test_depends_on_past_waits_for_the_previous_run(dask_client, store, tmp_path):
    marker = tmp_path / "fail"
    marker.touch()
    write_dag(tmp_path / "dags", "past", f'''
        import os
        from daskflow import DAG
        from daskflow.operators import PythonOperator, EmptyOperator

        def maybe_fail():
            if os.path.exists({str(marker)!r}):
                raise RuntimeError("told to fail")

        with DAG("past"):
            PythonOperator(task_id="gate", python_callable=maybe_fail, depends_on_past=True)
            EmptyOperator(task_id="free")
    ''')
    loop = _loop(tmp_path, store, dask_client)
    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    try:
        loop.folder.refresh()
        store.create_dag_run("past", "r1", day, day, day, "manual", {}, state="queued")
        drive_until(loop, lambda: store.get_dag_run("past", "r1").state == "failed")
        marker.unlink()
        later = day + timedelta(days=1)
        store.create_dag_run("past", "r2", later, later, later, "manual", {}, state="queued")
        drive_until(loop, lambda: _state(store, "past", "r2", "free") == "success")
        drive_for(loop, 1.0)
    finally:
        loop.shutdown()
    r2 = {t.task_id: t.state for t in store.list_task_instances("past", "r2")}
    # As in Airflow, the task waits (no state) while its previous instance failed.
    assert r2["free"] == "success" and r2.get("gate") in (None, "queued")
    assert store.get_dag_run("past", "r2").state == "running"


@pytest.mark.slow
def test_an_edited_file_does_not_change_a_running_run(dask_client, store, tmp_path):
    original = '''
        from daskflow import DAG
        from daskflow.operators import BashOperator, EmptyOperator
        with DAG("edited"):
            BashOperator(task_id="slow", bash_command="sleep 2") >> EmptyOperator(task_id="{name}")
    '''
    write_dag(tmp_path / "dags", "edited", original.format(name="old_end"))
    loop = _loop(tmp_path, store, dask_client)
    now = utcnow()
    try:
        loop.folder.refresh()
        first_version = loop.folder.versions["edited"]
        store.create_dag_run("edited", "r1", now, now, now, "manual", {}, state="queued",
                             dag_version=first_version)
        drive_until(loop, lambda: ("edited", "r1") in loop.executions)
        time.sleep(0.1)
        edited = textwrap.dedent(original.format(name="new_end")) + "\n# v2\n"
        write_dag(tmp_path / "dags", "edited", edited)
        drive_until(loop, lambda: loop.folder.versions["edited"] != first_version)
        drive_until(loop, lambda: store.get_dag_run("edited", "r1").state == "success")
        later = now + timedelta(hours=1)
        store.create_dag_run("edited", "r2", later, later, later, "manual", {}, state="queued",
                             dag_version=loop.folder.versions["edited"])
        drive_until(loop, lambda: store.get_dag_run("edited", "r2").state == "success")
    finally:
        loop.shutdown()
    r1 = {t.task_id for t in store.list_task_instances("edited", "r1")}
    r2 = {t.task_id for t in store.list_task_instances("edited", "r2")}
    assert r1 == {"slow", "old_end"} and r2 == {"slow", "new_end"}
    versions = store.list_dag_versions("edited")
    assert len(versions) == 2
    assert "old_end" in store.get_dag_version(first_version).source


def test_a_failed_task_sends_an_email(dask_client, store, tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port,
                            server_hostname="localhost")
    controller.start()
    write_dag(tmp_path / "dags", "mailer", '''
        from daskflow import DAG
        from daskflow.operators import BashOperator
        with DAG("mailer", default_args={"email": ["oncall@example.com"]}):
            BashOperator(task_id="broken", bash_command="echo the-log-line; exit 4")
    ''')
    from daskflow.notifications import Notifier

    try:
        with dask.config.set({"daskflow.notifications.smtp.host": "127.0.0.1",
                              "daskflow.notifications.smtp.port": port,
                              "daskflow.notifications.smtp.local-hostname": "localhost"}):
            notifier = Notifier()
        loop = _loop(tmp_path, store, dask_client, notifier=notifier)
        try:
            loop.folder.refresh()
            now = utcnow()
            store.create_dag_run("mailer", "r1", now, now, now, "manual", {}, state="queued")
            drive_until(loop, lambda: store.get_dag_run("mailer", "r1").state == "failed")
            deadline = time.monotonic() + 20
            while len(received) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            loop.shutdown()
            notifier.close()
    finally:
        controller.stop()
    subjects = [m["Subject"] for m in received]
    assert any("mailer.broken" in s for s in subjects)
    body = next(m for m in received if "mailer.broken" in m["Subject"]).get_payload()
    assert "exit code 4" in body and "the-log-line" in body


def test_callbacks_run_once_each_in_the_loop(dask_client, store, tmp_path):
    calls = tmp_path / "calls"
    write_dag(tmp_path / "dags", "with_callbacks", f'''
        import threading
        from daskflow import DAG
        from daskflow.operators import BashOperator, EmptyOperator

        def note(what):
            def callback(context):
                who = context["ti"].task_id if "ti" in context else context["run_id"]
                with open({str(calls)!r}, "a") as f:
                    f.write(f"{{what}} {{who}} {{threading.current_thread().name}}\\n")
            return callback

        with DAG("with_callbacks", on_failure_callback=note("dag_failure")):
            BashOperator(task_id="broken", bash_command="exit 2",
                         on_failure_callback=note("failure"))
            EmptyOperator(task_id="fine", on_success_callback=note("success"))
    ''')
    loop = _loop(tmp_path, store, dask_client)
    try:
        loop.folder.refresh()
        now = utcnow()
        store.create_dag_run("with_callbacks", "r1", now, now, now, "manual", {},
                             state="queued")
        drive_until(loop, lambda: store.get_dag_run("with_callbacks", "r1").state == "failed")
    finally:
        loop.shutdown()  # waits for the callback threads
    lines = sorted(calls.read_text().splitlines())
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        "dag_failure r1", "failure broken", "success fine"]
    assert all("daskflow-callbacks" in line for line in lines)


def test_a_resumed_run_still_skips_below_a_short_circuit(dask_client, store, tmp_path):
    ran = tmp_path / "ran"
    write_dag(tmp_path / "dags", "gated", f'''
        from daskflow import DAG, task
        from daskflow.operators import BashOperator, EmptyOperator

        with DAG("gated"):
            @task.short_circuit
            def gate():
                return False

            middle = EmptyOperator(task_id="middle")
            last = BashOperator(task_id="last", trigger_rule="all_done",
                                bash_command="touch {ran}")
            gate() >> middle >> last
    ''')
    loop = _loop(tmp_path, store, dask_client)
    now = utcnow()
    try:
        loop.folder.refresh()
        store.create_dag_run("gated", "r1", now, now, now, "manual", {}, state="queued")
        drive_until(loop, lambda: store.get_dag_run("gated", "r1").state == "success")
        # Clear only the last task: the run resumes from the stored outcomes above it.
        store.clear_task_instances("gated", "r1", [("last", -1)])
        drive_until(loop, lambda: store.get_dag_run("gated", "r1").state == "success"
               and _state(store, "gated", "r1", "last") is not None)
    finally:
        loop.shutdown()
    states = {t.task_id: t.state for t in store.list_task_instances("gated", "r1")}
    assert states == {"gate": "success", "middle": "skipped", "last": "skipped"}
    assert not ran.exists()


SAYS = '''
from daskflow import DAG
from daskflow.operators import BashOperator
with DAG("says"):
    BashOperator(task_id="say", bash_command="echo {word}")
'''


def test_a_trigger_from_another_folder_runs_the_loops_own_code(dask_client, store, tmp_path):
    from click.testing import CliRunner

    from daskflow.cli.main import cli

    write_dag(tmp_path / "dags", "says", SAYS.format(word="from-the-loops-folder"))
    write_dag(tmp_path / "elsewhere", "says", SAYS.format(word="from-another-folder"))
    db = store.url.render_as_string(hide_password=False)
    triggered = CliRunner().invoke(cli, ["dags", "trigger", "says", "--dags-folder",
                                         str(tmp_path / "elsewhere"), "--db", db])
    assert triggered.exit_code == 0, triggered.stderr
    run_id = triggered.stdout.strip()
    assert store.get_dag_run("says", run_id).dag_version is None  # no code recorded

    loop = _loop(tmp_path, store, dask_client)
    try:
        drive_until(loop, lambda: store.get_dag_run("says", run_id).state == "success")
    finally:
        loop.shutdown()
    log = store.get_log("says", run_id, "say")
    assert "from-the-loops-folder" in log and "from-another-folder" not in log
    version = store.get_dag_version(store.get_dag_run("says", run_id).dag_version)
    assert "from-the-loops-folder" in version.source


def test_queued_runs_of_a_dag_no_folder_defines_wait_with_a_reason(dask_client, store,
                                                                   tmp_path):
    (tmp_path / "dags").mkdir()
    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    store.create_dag_run("ghost", "manual__1", day, day, day, "manual", {}, state="queued")
    loop = _loop(tmp_path, store, dask_client)
    try:
        drive_for(loop, 0.5)
        waiting = store.get_dag_run("ghost", "manual__1")
        assert waiting.state == "queued"
        assert "no running scheduler's DAG folder defines this DAG" in waiting.reason
        write_dag(tmp_path / "dags", "ghost", '''
            from daskflow import DAG
            from daskflow.operators import EmptyOperator
            with DAG("ghost"):
                EmptyOperator(task_id="t")
        ''')
        drive_until(loop, lambda: store.get_dag_run("ghost", "manual__1").state == "success")
    finally:
        loop.shutdown()
    assert store.get_dag_run("ghost", "manual__1").reason is None


RETURNS = '''
from daskflow import DAG, task
with DAG("{dag_id}"):
    @task
    def make():
        return list(range(100))
    @task
    def use(values):
        return sum(values)
    use(make())
'''


def test_kept_outcomes_are_deleted_after_the_retention(dask_client, store, tmp_path):
    write_dag(tmp_path / "dags", "short", RETURNS.format(dag_id="short"))
    write_dag(tmp_path / "dags", "long", RETURNS.format(dag_id="long"))
    results = tmp_path / "results"
    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for dag_id in ("short", "long"):
        store.create_dag_run(dag_id, "r", day, day, day, "manual", {}, state="queued")
    with dask.config.set({"daskflow.results-retention": 0}):
        loop = _loop(tmp_path, store, dask_client)
    try:
        drive_until(loop, lambda: all(store.get_dag_run(d, "r").state == "success"
                                      for d in ("short", "long")))
        kept = store.get_task_instance("short", "r", "make").result_ref
        assert kept.startswith(str(results / "short" / "r"))  # an outcome was kept
        drive_until(loop, lambda: store.get_dag_run("short", "r").results_purged_at)
    finally:
        loop.shutdown()
    assert not (results / "short" / "r").exists()
    assert not (results / "long" / "r").exists()
    assert store.runs_with_kept_results(utcnow()) == []


@pytest.mark.slow
def test_outcomes_are_kept_until_the_retention_ends(dask_client, store, tmp_path):
    write_dag(tmp_path / "dags", "kept", RETURNS.format(dag_id="kept"))
    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    store.create_dag_run("kept", "r", day, day, day, "manual", {}, state="queued")
    loop = _loop(tmp_path, store, dask_client)  # the default retention: a day
    try:
        drive_until(loop, lambda: store.get_dag_run("kept", "r").state == "success")
        drive_for(loop, 1.0)
    finally:
        loop.shutdown()
    assert (tmp_path / "results" / "kept" / "r").exists()
    assert store.get_dag_run("kept", "r").results_purged_at is None
