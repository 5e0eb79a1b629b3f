"""Real `daskflow scheduler` processes: SIGKILL and restart, and two loops on PostgreSQL.

Tasks append ``<run_id> <task_id> <loop>`` to a journal when they run (the
loop whose cluster ran them, from the ``LOOP_NAME`` its processes inherit), so
the tests can count how often each task instance really executed, and where.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from daskflow.store import Store

CHAIN_DAG = '''
from daskflow import DAG
from daskflow.operators import PythonOperator

JOURNAL = {journal!r}

def step(run, name):
    import os, time
    time.sleep({pause})
    with open(JOURNAL, "a") as f:
        f.write(f"{{run}} {{name}} {{os.environ.get('LOOP_NAME', '?')}}\\n")
    return name

with DAG("chain", max_active_runs={max_runs}{schedule}):
    previous = None
    for i in range({length}):
        current = PythonOperator(task_id=f"t{{i:02d}}", python_callable=step,
                                 op_args=["{{{{ run_id }}}}", f"t{{i:02d}}"])
        if previous is not None:
            previous >> current
        previous = current
'''


def _dag_file(folder: Path, journal: Path, *, length: int, pause: float, max_runs: int = 16,
              schedule: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source = CHAIN_DAG.format(journal=str(journal), length=length, pause=pause,
                              max_runs=max_runs, schedule=schedule)
    (folder / "chain.py").write_text(textwrap.dedent(source))


def _start_loop(folder: Path, db: str, home: Path, *extra: str,
                env: dict[str, str] | None = None) -> subprocess.Popen:
    """A `daskflow scheduler` in a session of its own; its stderr goes to ``proc.log``."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "scheduler.log"
    variables = {**os.environ, "DASKFLOW_HOME": str(home),
                 "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    with open(log, "a") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daskflow.cli.main", "scheduler", "--dags-folder",
             str(folder), "--db", db, "--workers", "1", "--threads-per-worker", "2",
             "--heartbeat", "1", "--stale-after", "3", *extra],
            env=variables, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.2)


def _succeeded(store: Store, dag_id: str, run_id: str) -> set[str]:
    return {t.task_id for t in store.list_task_instances(dag_id, run_id) if t.state == "success"}


@pytest.mark.slow
def test_a_killed_loop_is_restarted_and_no_recorded_success_runs_again(tmp_path, db_url):
    journal = tmp_path / "journal"
    folder = tmp_path / "dags"
    _dag_file(folder, journal, length=12, pause=0.4)
    store = Store(db_url)
    store.init()
    now = datetime.now(timezone.utc)
    store.create_dag_run("chain", "manual__x", now, now, now, "manual", {}, state="queued")

    first = _start_loop(folder, db_url, tmp_path)
    try:
        _wait(lambda: len(_succeeded(store, "chain", "manual__x")) >= 4)
        os.killpg(first.pid, signal.SIGKILL)  # the loop and its LocalCluster, mid-run
        first.wait()
        before_kill = _succeeded(store, "chain", "manual__x")
    finally:
        _stop(first, signal.SIGKILL)

    second = _start_loop(folder, db_url, tmp_path)
    try:
        _wait(lambda: store.get_dag_run("chain", "manual__x").state == "success")
    finally:
        _stop(second)
    assert second.returncode == 0, second.log.read_text()[-2000:]

    runs = Counter(line.split()[1] for line in journal.read_text().splitlines())
    assert set(runs) == {f"t{i:02d}" for i in range(12)}
    for task_id in before_kill:
        assert runs[task_id] == 1, f"{task_id} succeeded before the kill and ran again"
    # At most the task in flight at the kill ran twice (at-least-once for it).
    assert sum(n - 1 for n in runs.values()) <= 1
    assert len(store.list_dag_runs("chain")) == 1


@pytest.mark.slow
@pytest.mark.postgresql
def test_two_loops_share_the_work_and_one_carries_on_when_the_other_dies(tmp_path, pg_url):
    journal = tmp_path / "journal"
    folder = tmp_path / "dags"
    _dag_file(folder, journal, length=4, pause=0.2, max_runs=3)
    store = Store(pg_url)
    store.reset()
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    run_ids = []
    for day in range(8):
        logical = base.replace(day=day + 1)
        run_ids.append(f"manual__{day}")
        store.create_dag_run("chain", run_ids[-1], logical, logical, logical, "manual", {},
                             state="queued")

    loops = [_start_loop(folder, pg_url, tmp_path / f"home{i}", "--loop-id", f"loop{i}",
                         env={"LOOP_NAME": f"loop{i}"})
             for i in range(2)]
    try:
        _wait(lambda: any(_succeeded(store, "chain", r) for r in run_ids))
        os.killpg(loops[0].pid, signal.SIGKILL)
        loops[0].wait()
        # Nobody adopts before stale-after (3 s): these are the runs the dead loop held.
        held = {r for r in run_ids if store.get_dag_run("chain", r).owner_loop == "loop0"}
        _wait(lambda: all(store.get_dag_run("chain", r).state == "success" for r in run_ids),
              timeout=180)
    finally:
        for proc in loops:
            _stop(proc)

    lines = [line.split() for line in journal.read_text().splitlines()]
    executions = Counter((run_id, task_id) for run_id, task_id, _ in lines)
    assert set(executions) == {(r, f"t{i:02d}") for r in run_ids for i in range(4)}
    # Only a task in flight on the killed loop's cluster may run twice: at most
    # one per run that loop held (the chain runs one task at a time), first there.
    twice = {key: n for key, n in executions.items() if n > 1}
    assert all(n == 2 for n in twice.values()), twice
    assert {run_id for run_id, _ in twice} <= held
    assert len({run_id for run_id, _ in twice}) == len(twice)
    first_loop = {}
    for run_id, task_id, loop in lines:
        first_loop.setdefault((run_id, task_id), loop)
    assert all(first_loop[key] == "loop0" for key in twice)
    owners = {r.owner_loop for r in store.list_dag_runs("chain")}
    assert owners == {None}




@pytest.mark.slow
@pytest.mark.postgresql
def test_a_loop_paused_past_stale_after_stops_driving_its_run_when_it_wakes(tmp_path, pg_url):
    journal = tmp_path / "journal"
    folder = tmp_path / "dags"
    _dag_file(folder, journal, length=14, pause=0.5)
    store = Store(pg_url)
    store.reset()
    now = datetime.now(timezone.utc)
    store.create_dag_run("chain", "r", now, now, now, "manual", {}, state="queued")

    def executed() -> list[list[str]]:
        return [line.split() for line in journal.read_text().splitlines()] \
            if journal.exists() else []

    paused = _start_loop(folder, pg_url, tmp_path / "home0", "--loop-id", "paused",
                         env={"LOOP_NAME": "paused"})
    other = None
    try:
        _wait(lambda: len(_succeeded(store, "chain", "r")) >= 3)
        other = _start_loop(folder, pg_url, tmp_path / "home1", "--loop-id", "other",
                            env={"LOOP_NAME": "other"})
        os.killpg(paused.pid, signal.SIGSTOP)  # the loop, its Dask scheduler and workers
        _wait(lambda: store.get_dag_run("chain", "r").owner_loop == "other")
        _wait(lambda: sum(1 for line in executed() if line[2] == "other") >= 2)
        os.killpg(paused.pid, signal.SIGCONT)
        _wait(lambda: store.get_dag_run("chain", "r").state == "success")
        time.sleep(3)  # the woken loop has had time to do whatever it would do
        assert paused.poll() is None, "the woken loop exited"
    finally:
        os.killpg(paused.pid, signal.SIGCONT)
        _stop(paused)
        if other is not None:
            _stop(other)

    runs = Counter(task for _, task, _ in executed())
    assert set(runs) == {f"t{i:02d}" for i in range(14)}
    # At most the task in flight when the loop was paused ran on both clusters.
    assert sum(n - 1 for n in runs.values()) <= 1, runs
    attempts = [a for t in runs for a in store.list_attempts("chain", "r", t)]
    by_loop = {a.task_id: a.loop_id for a in attempts}
    ran_by = {task: loop for _, task, loop in executed()}
    assert set(by_loop.values()) == {"paused", "other"}
    for task, loop in by_loop.items():
        if runs[task] == 1:
            assert ran_by[task] == loop, f"{task} ran on {ran_by[task]}'s cluster"
    assert "no longer driven by loop paused" in paused.log.read_text()


RETRY_DAG = '''
import os, time
from datetime import timedelta
from daskflow import DAG
from daskflow.operators import PythonOperator

JOURNAL = {journal!r}

def flaky():
    first = not os.path.exists(JOURNAL)
    with open(JOURNAL, "a") as f:
        f.write(f"start {{time.time():.3f}}\\n")
    if first:
        with open(JOURNAL, "a") as f:
            f.write(f"fail {{time.time():.3f}}\\n")
        raise RuntimeError("first try fails")

with DAG("retry_later"):
    PythonOperator(task_id="flaky", python_callable=flaky, retries=1,
                   retry_delay=timedelta(seconds={delay}))
'''


@pytest.mark.slow
def test_a_retry_delay_outlives_a_killed_loop(tmp_path, db_url):
    journal = tmp_path / "journal"
    folder = tmp_path / "dags"
    folder.mkdir()
    delay = 8
    (folder / "retry.py").write_text(textwrap.dedent(
        RETRY_DAG.format(journal=str(journal), delay=delay)))
    store = Store(db_url)
    store.init()
    now = datetime.now(timezone.utc)
    store.create_dag_run("retry_later", "r", now, now, now, "manual", {}, state="queued")

    first = _start_loop(folder, db_url, tmp_path / "home0")
    try:
        def waiting():
            ti = store.get_task_instance("retry_later", "r", "flaky")
            return ti is not None and ti.state == "up_for_retry" and ti.next_try_at
        _wait(waiting)
        time.sleep(2)
        os.killpg(first.pid, signal.SIGKILL)  # mid-delay: the timer lives only in the store
        first.wait()
    finally:
        _stop(first, signal.SIGKILL)
    second = _start_loop(folder, db_url, tmp_path / "home1")
    try:
        _wait(lambda: store.get_dag_run("retry_later", "r").state == "success")
    finally:
        _stop(second)

    lines = [line.split() for line in journal.read_text().splitlines()]
    assert [phase for phase, _ in lines] == ["start", "fail", "start"]
    failed_at, retried_at = float(lines[1][1]), float(lines[2][1])
    assert retried_at - failed_at >= delay - 0.5, "the retry came before its delay ended"
    ti = store.get_task_instance("retry_later", "r", "flaky")
    assert (ti.state, ti.try_number) == ("success", 2)


SENSOR_DAG = '''
from daskflow import DAG
from daskflow.sensors import PythonSensor

with DAG("waits_long"):
    PythonSensor(task_id="never", python_callable=lambda: False, mode="reschedule",
                 poke_interval=3, timeout={timeout})
'''


@pytest.mark.slow
def test_a_rescheduled_sensor_keeps_its_try_and_first_poke_across_a_killed_loop(
        tmp_path, db_url):
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "sensor.py").write_text(textwrap.dedent(SENSOR_DAG.format(timeout=10)))
    store = Store(db_url)
    store.init()
    now = datetime.now(timezone.utc)
    store.create_dag_run("waits_long", "r", now, now, now, "manual", {}, state="queued")

    first = _start_loop(folder, db_url, tmp_path / "home0")
    try:
        def rescheduled():
            ti = store.get_task_instance("waits_long", "r", "never")
            return ti is not None and ti.state == "up_for_reschedule"
        _wait(rescheduled)
        first_poke = store.get_task_instance("waits_long", "r", "never").start_date
        time.sleep(1)
        os.killpg(first.pid, signal.SIGKILL)  # mid-wait: the next poke lives in the store
        first.wait()
    finally:
        _stop(first, signal.SIGKILL)
    second = _start_loop(folder, db_url, tmp_path / "home1")
    try:
        _wait(lambda: store.get_dag_run("waits_long", "r").state == "failed")
    finally:
        _stop(second)

    ti = store.get_task_instance("waits_long", "r", "never")
    assert (ti.state, ti.try_number) == ("failed", 1)
    # The timeout counted from the first poke, made by the loop that was killed.
    assert ti.start_date == first_poke
    attempts = store.list_attempts("waits_long", "r", "never")
    assert [(a.try_number, a.state) for a in attempts] == [(1, "failed")]
    assert "timed out" in attempts[0].error


DEFERRED_DAG = '''
from daskflow import DAG
from daskflow.operators import PythonOperator
from daskflow.sensors import FileSensor

with DAG("defers_long"):
    FileSensor(task_id="marker", filepath={marker!r}, deferrable=True, poke_interval=0.2,
               timeout=600) >> PythonOperator(task_id="after", python_callable=lambda: "on")
'''


@pytest.mark.slow
def test_a_deferred_sensor_waits_on_its_trigger_again_after_its_loop_is_killed(
        tmp_path, db_url):
    folder, marker = tmp_path / "dags", tmp_path / "_SUCCESS"
    folder.mkdir()
    (folder / "sensor.py").write_text(textwrap.dedent(DEFERRED_DAG.format(marker=str(marker))))
    store = Store(db_url)
    store.init()
    now = datetime.now(timezone.utc)
    store.create_dag_run("defers_long", "r", now, now, now, "manual", {}, state="queued")

    first = _start_loop(folder, db_url, tmp_path / "home0")
    try:
        def deferred():
            ti = store.get_task_instance("defers_long", "r", "marker")
            return ti is not None and ti.state == "deferred"
        _wait(deferred)
        started = store.get_task_instance("defers_long", "r", "marker").start_date
        os.killpg(first.pid, signal.SIGKILL)  # the trigger dies with it; the store keeps it
        first.wait()
    finally:
        _stop(first, signal.SIGKILL)
    marker.write_text("done")  # the condition comes true while no loop is running
    second = _start_loop(folder, db_url, tmp_path / "home1")
    try:
        _wait(lambda: store.get_dag_run("defers_long", "r").state == "success")
    finally:
        _stop(second)

    ti = store.get_task_instance("defers_long", "r", "marker")
    assert (ti.state, ti.try_number) == ("success", 1)
    assert ti.start_date == started  # the same try, resumed by the second loop
    attempts = store.list_attempts("defers_long", "r", "marker")
    assert [(a.try_number, a.state) for a in attempts] == [(1, "success")]
    assert store.get_task_instance("defers_long", "r", "after").state == "success"


SLOW_FILE = '''
import time
from daskflow import DAG
time.sleep({seconds})
with DAG("slow_to_import"):
    pass
'''


@pytest.mark.slow
@pytest.mark.postgresql
def test_a_slow_dag_file_on_the_owning_loop_neither_stalls_nor_hands_over_its_run(
        tmp_path, pg_url):
    journal = tmp_path / "journal"
    folders = [tmp_path / "dags_a", tmp_path / "dags_b"]
    for folder in folders:
        _dag_file(folder, journal, length=20, pause=0.4)
    store = Store(pg_url)
    store.reset()
    now = datetime.now(timezone.utc)
    store.create_dag_run("chain", "r", now, now, now, "manual", {}, state="queued")
    loops = {name: _start_loop(folder, pg_url, tmp_path / f"home_{name}", "--loop-id", name,
                               env={"LOOP_NAME": name})
             for name, folder in zip(("a", "b"), folders, strict=True)}
    try:
        _wait(lambda: store.get_dag_run("chain", "r").owner_loop in loops)
        owner = store.get_dag_run("chain", "r").owner_loop
        owner_folder = folders[0] if owner == "a" else folders[1]
        (owner_folder / "slow.py").write_text(textwrap.dedent(SLOW_FILE.format(seconds=15)))
        _wait(lambda: store.get_dag_run("chain", "r").state == "success", timeout=180)
        owners = {store.get_dag_run("chain", "r").owner_loop}
    finally:
        for proc in loops.values():
            _stop(proc)

    lines = [line.split() for line in journal.read_text().splitlines()]
    runs = Counter(task for _, task, _ in lines)
    assert set(runs) == {f"t{i:02d}" for i in range(20)}
    assert all(n == 1 for n in runs.values()), runs  # no handover: nothing twice
    assert {loop for _, _, loop in lines} == {owner}
    attempts = [a for t in runs for a in store.list_attempts("chain", "r", t)]
    assert {a.loop_id for a in attempts} == {owner}
    assert owners == {None}  # finished and released
