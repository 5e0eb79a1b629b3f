"""BashOperator run in this process: output, exit codes, environment, kill."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from daskflow import DAG
from daskflow.exceptions import DaskflowError, TaskSkipped
from daskflow.models.context import DagRunInfo, RuntimeTaskInstance, build_context
from daskflow.models.templating import render_fields
from daskflow.operators import BashOperator


def context_for(task: BashOperator) -> dict:
    run = DagRunInfo(dag_id=task.dag_id or "none", run_id="manual__1",
                     logical_date=datetime(2024, 5, 6, tzinfo=timezone.utc),
                     data_interval_start=datetime(2024, 5, 5, tzinfo=timezone.utc),
                     data_interval_end=datetime(2024, 5, 6, tzinfo=timezone.utc))
    ti = RuntimeTaskInstance(task=task, run=run, try_number=2, max_tries=3)
    return build_context(task, run, ti, dag=task.dag)


def run(command: str, **kwargs) -> str:
    with DAG("bash_unit"):
        op = BashOperator(task_id="sh", bash_command=command, **kwargs)
    return op.execute(context_for(op))


def test_returns_the_last_line_of_output():
    assert run("echo first; echo second") == "second"


def test_stderr_is_part_of_the_output_and_trailing_whitespace_goes():
    assert run("echo out; echo 'err  ' >&2") == "err"


def test_empty_output_gives_an_empty_string():
    assert run("true") == ""


def test_output_processor():
    assert run("echo 1 2 3", output_processor=lambda s: s.split()) == ["1", "2", "3"]


def test_output_lines_go_to_stdout(capsys):
    run("echo one; echo two")
    assert capsys.readouterr().out.splitlines()[-2:] == ["one", "two"]


def test_non_zero_exit_fails_with_the_code():
    with pytest.raises(DaskflowError, match="non-zero exit code 3"):
        run("echo partial; exit 3")


def test_exit_99_skips():
    with pytest.raises(TaskSkipped, match="99"):
        run("exit 99")


@pytest.mark.parametrize(("skip_on", "code", "skipped"), [
    (3, 3, True), ([1, 2], 2, True), ([1, 2], 99, False), (None, 99, False)])
def test_custom_skip_on_exit_code(skip_on, code, skipped):
    expected = TaskSkipped if skipped else DaskflowError
    with pytest.raises(expected) as err:
        run(f"exit {code}", skip_on_exit_code=skip_on)
    assert skipped or not isinstance(err.value, TaskSkipped)


def test_env_replaces_the_environment(monkeypatch):
    monkeypatch.setenv("DF_OUTER_VAR", "outer")
    assert run('echo "[$DF_OUTER_VAR][$MINE]"', env={"MINE": "mine"}) == "[][mine]"


def test_append_env_keeps_the_environment(monkeypatch):
    monkeypatch.setenv("DF_OUTER_VAR", "outer")
    assert run('echo "[$DF_OUTER_VAR][$MINE]"', env={"MINE": "mine"},
               append_env=True) == "[outer][mine]"


def test_no_env_inherits_the_environment(monkeypatch):
    monkeypatch.setenv("DF_OUTER_VAR", "outer")
    assert run('echo "$DF_OUTER_VAR"') == "outer"


def test_context_variables_in_both_namings():
    line = run('echo "$DASKFLOW_CTX_DAG_ID $AIRFLOW_CTX_DAG_ID $AIRFLOW_CTX_TASK_ID '
               '$AIRFLOW_CTX_DAG_RUN_ID $AIRFLOW_CTX_TRY_NUMBER $AIRFLOW_CTX_LOGICAL_DATE"',
               env={})
    assert line == "bash_unit bash_unit sh manual__1 2 2024-05-06T00:00:00+00:00"


def test_cwd(tmp_path):
    assert Path(run("pwd", cwd=str(tmp_path))).resolve() == tmp_path.resolve()


def test_missing_cwd_fails_clearly(tmp_path):
    with pytest.raises(DaskflowError, match="'sh'.*is not a directory"):
        run("pwd", cwd=str(tmp_path / "nope"))


def test_sh_template_file_is_rendered_and_run(tmp_path):
    (tmp_path / "greet.sh").write_text('echo "hello {{ params.who }} on {{ ds }}"\n')
    with DAG("bash_file", fileloc=str(tmp_path / "dag.py"), params={"who": "world"}):
        op = BashOperator(task_id="greet", bash_command="greet.sh")
    context = context_for(op)
    render_fields(op, context)
    assert op.execute(context) == "hello world on 2024-05-06"


# -- on_kill ----------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 in a container may not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _start(op: BashOperator) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = op.execute(context_for(op))
        except Exception as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def _pids(path: Path, count: int) -> list[int]:
    _wait_for(lambda: path.exists() and len(path.read_text().split()) == count,
              f"{count} pids in {path}")
    return [int(p) for p in path.read_text().split()]


def test_on_kill_stops_the_whole_process_group(tmp_path):
    pids_file = tmp_path / "pids"
    with DAG("bash_kill"):
        op = BashOperator(task_id="sleepy", bash_command=(
            f"sleep 30 & echo $! >> {pids_file}; sleep 30 & echo $! >> {pids_file}; wait"))
    thread, outcome = _start(op)
    pids = _pids(pids_file, 2)
    assert all(_alive(pid) for pid in pids)
    op.on_kill()
    thread.join(20)
    assert not thread.is_alive()
    # an exiting process may linger for a moment after closing its stdout
    _wait_for(lambda: not any(_alive(pid) for pid in pids), "both sleeps to end")
    assert isinstance(outcome.get("error"), DaskflowError)


def test_on_kill_after_bash_exited_still_stops_its_background_children(tmp_path):
    pids_file = tmp_path / "pids"
    with DAG("bash_kill_orphan"):
        op = BashOperator(task_id="orphan", bash_command=(
            f"(sleep 30; echo late) & echo $! >> {pids_file}"))
    thread, _ = _start(op)
    (pid,) = _pids(pids_file, 1)
    _wait_for(lambda: op._process is not None and op._process.poll() is not None, "bash to end")
    assert _alive(pid) and thread.is_alive()  # the subshell holds stdout open
    op.on_kill()
    thread.join(20)
    assert not thread.is_alive()
    _wait_for(lambda: not _alive(pid), "the background subshell to end")


def test_on_kill_before_and_after_execute_is_harmless():
    with DAG("bash_kill_idle"):
        op = BashOperator(task_id="idle", bash_command="echo done")
    op.on_kill()
    assert op.execute(context_for(op)) == "done"
    op.on_kill()  # the group is gone: nothing to signal, and no error
    assert op.execute(context_for(op)) == "done"
