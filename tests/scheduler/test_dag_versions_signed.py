"""Stored DAG versions run only when signed with the deployment's secret key.

A run records the version it was created from; once the file changed, the
loop rebuilds the run's DAG from the stored source. Without signatures,
write access to the store would be code execution on the loop's host.
"""

from __future__ import annotations

import logging
import stat
import textwrap
from pathlib import Path

import dask
import pytest
from loop_driving import drive_for, drive_until, write_dag

from daskflow.exceptions import DagVersionError, DaskflowError
from daskflow.scheduler import versions
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.dag_sync import save_version
from daskflow.scheduler.dagbag import load_dag_version
from daskflow.scheduler.loop import SchedulerLoop, utcnow
from daskflow.store import TaskUpdate

VERSIONED = '''
from daskflow import DAG
from daskflow.operators import BashOperator, EmptyOperator
with DAG("versioned"):
    BashOperator(task_id="work", bash_command="echo work") >> EmptyOperator(task_id="{end}")
'''


@pytest.fixture(autouse=True)
def _key(monkeypatch, tmp_path):
    """Each test has a key of its own: nothing read from, or written to, the real home."""
    monkeypatch.setenv("DASKFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASKFLOW_SECRET_KEY", "the-deployment-key")


# -- signing --------------------------------------------------------------------------------
FIELDS = ("v1", "etl", "/dags/etl.py", "print('etl')")


@pytest.mark.parametrize("changed", range(4))
def test_a_signature_covers_version_dag_file_and_source(changed):
    signature = versions.sign(*FIELDS, key=b"k")
    assert versions.verify(*FIELDS, signature, key=b"k")
    tampered = list(FIELDS)
    tampered[changed] += "x"
    assert not versions.verify(*tampered, signature, key=b"k")
    assert not versions.verify(*FIELDS, signature, key=b"other key")
    assert not versions.verify(*FIELDS, None, key=b"k")


def test_the_key_comes_from_the_variable_then_the_setting_then_a_file(monkeypatch, tmp_path):
    assert versions.secret_key() == b"the-deployment-key"
    monkeypatch.delenv("DASKFLOW_SECRET_KEY")
    with dask.config.set({"daskflow.secret-key": "from-settings"}):
        assert versions.secret_key() == b"from-settings"
    assert not (tmp_path / "home" / "secret.key").exists()
    made = versions.secret_key()
    key_file = tmp_path / "home" / "secret.key"
    assert made == key_file.read_text().strip().encode() and len(made) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert versions.secret_key() == made  # made once, then read


def test_an_empty_key_file_is_an_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.delenv("DASKFLOW_SECRET_KEY")
    key_file = tmp_path / "home" / "secret.key"
    key_file.parent.mkdir()
    key_file.write_text("\n")
    with pytest.raises(DaskflowError, match=f"the secret key file {key_file} is empty"):
        versions.secret_key()


def test_saved_versions_are_signed_and_an_unsigned_one_gets_signed(store, tmp_path):
    path = write_dag(tmp_path / "dags", "versioned", VERSIONED.format(end="end")) / \
        "versioned.py"
    folder = DagFolder(path.parent, store)
    folder.refresh()
    version = store.get_dag_version(folder.versions["versioned"])
    assert versions.verify(version.version_id, version.dag_id, version.fileloc,
                           version.source, version.signature)
    store.save_dag_version("old", "versioned", str(path), "source", {})
    assert store.get_dag_version("old").signature is None
    store.save_dag_version("old", "versioned", str(path), "source", {}, signature="sig")
    store.save_dag_version("old", "versioned", str(path), "source", {}, signature="later")
    assert store.get_dag_version("old").signature == "sig"  # signed once, never replaced


# -- loading --------------------------------------------------------------------------------
def _store_version(store, version_id: str, source: str, *, dag_id: str = "versioned",
                   signature: str | None | bool = True, fileloc: str = "/dags/v.py") -> None:
    if signature is True:
        signature = versions.sign(version_id, dag_id, fileloc, source)
    store.save_dag_version(version_id, dag_id, fileloc, source, {}, signature=signature or None)


@pytest.mark.parametrize(("source", "signature", "message"), [
    (None, True, "version 'v' of DAG 'versioned' is not in the metadata store"),
    (VERSIONED.format(end="end"), None, "is not signed, so its stored source is not run"),
    (VERSIONED.format(end="end"), "0" * 64,
     "set the same daskflow.secret-key (or DASKFLOW_SECRET_KEY) on every scheduler"),
    ("from daskflow import DAG\nraise ValueError('old bug')\n", True,
     "failed to import from its stored source: ValueError: old bug"),
    ("import os\nos._exit(0)\n", True, "failed to import from its stored source: "
     "DagImportError: the parse process importing /dags/v.py exited with code 0"),
    ("from daskflow import DAG\nwith DAG('another'):\n    pass\n", True,
     "its stored source (/dags/v.py) does not define DAG 'versioned'"),
])
def test_a_version_that_cannot_run_says_why(store, source, signature, message):
    if source is not None:
        _store_version(store, "v", source, signature=signature)
    with pytest.raises(DagVersionError) as raised:
        load_dag_version(store, "v", "versioned")
    assert message in str(raised.value)


def test_a_signed_version_is_built_in_a_parse_process(store, tmp_path):
    marker = tmp_path / "imported"
    source = textwrap.dedent(VERSIONED.format(end="old_end")) + \
        f"\nimport os\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\n"
    _store_version(store, "signed", source)
    dag = load_dag_version(store, "signed", "versioned")
    assert sorted(dag.task_dict) == ["old_end", "work"] and dag.fileloc == "/dags/v.py"
    assert marker.read_text() != str(__import__("os").getpid())


def test_source_edited_in_the_store_after_signing_is_refused(store):
    _store_version(store, "v", VERSIONED.format(end="end"))
    signature = store.get_dag_version("v").signature
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE dag_version SET source = ? WHERE version_id = 'v'",
                             ("import os\nos.system('touch /tmp/owned')\n",))
    assert store.get_dag_version("v").signature == signature
    with pytest.raises(DagVersionError, match="signature this scheduler's secret key does not"):
        load_dag_version(store, "v", "versioned")


# -- in the loop ----------------------------------------------------------------------------
def _loop(tmp_path: Path, store, client) -> SchedulerLoop:
    folder = DagFolder(tmp_path / "dags", store)
    return SchedulerLoop(folder, store, client, results_url=str(tmp_path / "results"),
                         parse_interval=0.2)


@pytest.mark.slow
@pytest.mark.parametrize(("signature", "why"), [
    (None, "is not signed"),
    ("f" * 64, "signature this scheduler's secret key does not verify")])
def test_a_run_of_an_unverified_version_fails_and_runs_nothing(dask_client, store, tmp_path,
                                                               caplog, signature, why):
    marks = tmp_path / "marks"
    marks.mkdir()
    write_dag(tmp_path / "dags", "versioned", VERSIONED.format(end="current_end"))
    planted = textwrap.dedent(f'''
        from pathlib import Path
        from daskflow import DAG, task
        Path({str(marks)!r}, "module").touch()
        with DAG("versioned"):
            @task
            def work():
                Path({str(marks)!r}, "task").touch()
            work()
    ''')
    _store_version(store, "planted", planted, signature=signature,
                   fileloc=str(tmp_path / "dags" / "versioned.py"))
    now = utcnow()
    store.create_dag_run("versioned", "r1", now, now, now, "manual", {}, state="queued",
                         dag_version="planted")
    loop = _loop(tmp_path, store, dask_client)
    try:
        with caplog.at_level(logging.ERROR, logger="daskflow.scheduler"):
            drive_until(loop, lambda: store.get_dag_run("versioned", "r1").state == "failed")
    finally:
        loop.shutdown()
    assert store.list_task_instances("versioned", "r1") == []
    assert list(marks.iterdir()) == []
    [logged] = [r.getMessage() for r in caplog.records if "r1" in r.getMessage()]
    assert "version 'planted' of DAG 'versioned'" in logged and why in logged


@pytest.mark.slow
def test_a_signed_old_version_runs_its_own_code_after_the_file_changed(dask_client, store,
                                                                      tmp_path):
    write_dag(tmp_path / "dags", "versioned", VERSIONED.format(end="old_end"))
    loop = _loop(tmp_path, store, dask_client)
    try:
        loop.folder.refresh()
        old = loop.folder.versions["versioned"]
        write_dag(tmp_path / "dags", "versioned", VERSIONED.format(end="new_end") + "\n# v2\n")
        drive_until(loop, lambda: loop.folder.versions["versioned"] != old)
        now = utcnow()
        store.create_dag_run("versioned", "old_run", now, now, now, "manual", {},
                             state="queued", dag_version=old)
        store.create_dag_run("versioned", "new_run", now.replace(year=now.year - 1), now, now,
                             "manual", {}, state="queued",
                             dag_version=loop.folder.versions["versioned"])
        drive_until(loop, lambda: {r.state for r in store.list_dag_runs("versioned")}
                    == {"success"})
    finally:
        loop.shutdown()
    ran = {run: {t.task_id for t in store.list_task_instances("versioned", run)}
           for run in ("old_run", "new_run")}
    assert ran == {"old_run": {"work", "old_end"}, "new_run": {"work", "new_end"}}


def test_every_daskflow_process_of_a_deployment_signs_alike(store, tmp_path):
    path = write_dag(tmp_path / "dags", "versioned", VERSIONED.format(end="end"))
    folder = DagFolder(path, store)
    folder.refresh()
    dag = folder.dags["versioned"]
    # What the CLI's `dags trigger` stores for the same DAG is the same signed version.
    assert save_version(store, dag) == folder.versions["versioned"]
    assert load_dag_version(store, folder.versions["versioned"], "versioned").dag_id == \
        "versioned"


def test_a_running_run_whose_version_cannot_be_built_fails_with_the_reason(
        dask_client, store, tmp_path):
    write_dag(tmp_path / "dags", "versioned", VERSIONED.format(end="current_end"))
    broken = "from daskflow import DAG\nraise ImportError('a module the old version needed')\n"
    _store_version(store, "broken", broken, fileloc=str(tmp_path / "dags" / "versioned.py"))
    now = utcnow()
    # Half done by a loop that died: an orphan the new loop adopts at once.
    store.create_dag_run("versioned", "r1", now, now, now, "manual", {}, state="running",
                         dag_version="broken")
    store.apply_updates([TaskUpdate("versioned", "r1", "work", state="success")])
    loop = _loop(tmp_path, store, dask_client)
    try:
        drive_until(loop, lambda: store.get_dag_run("versioned", "r1").state != "running")
        drive_for(loop, 0.5)
    finally:
        loop.shutdown()
    run = store.get_dag_run("versioned", "r1")
    assert run.state == "failed"
    assert run.reason == ("version 'broken' of DAG 'versioned' failed to import from its "
                          "stored source: ImportError: a module the old version needed")
    # Not run with the current file instead: its tasks never appear in the run.
    assert {t.task_id: t.state for t in store.list_task_instances("versioned", "r1")} == {
        "work": "success"}
