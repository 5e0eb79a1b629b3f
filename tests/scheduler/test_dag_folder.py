"""The DAG folder processor: isolation, time limits, changes and removals."""

from __future__ import annotations

import os
import textwrap
import time

from daskflow.scheduler.dag_folder import DagFolder

GOOD = '''
from daskflow import DAG
from daskflow.operators import EmptyOperator
with DAG("{dag_id}", schedule="@daily"):
    EmptyOperator(task_id="t")
'''


def _write(path, source: str) -> None:
    path.write_text(textwrap.dedent(source))
    # Make the change visible to an mtime check even within one clock tick.
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 1))


def test_a_hanging_file_times_out_and_the_others_load(tmp_path, store):
    folder = tmp_path / "dags"
    folder.mkdir()
    _write(folder / "good.py", GOOD.format(dag_id="good"))
    _write(folder / "hangs.py", "import time\nfrom daskflow import DAG\ntime.sleep(60)\n")
    started = time.monotonic()

    changes = DagFolder(folder, store, parse_timeout=1.0).refresh()

    assert time.monotonic() - started < 30
    assert changes.changed == ["good"]
    errors = {e.filename: e.stacktrace for e in store.list_import_errors()}
    assert list(errors) == [str(folder / "hangs.py")]
    assert "took longer than 1s" in errors[str(folder / "hangs.py")]
    assert store.get_dag("good").is_active


def test_only_changed_files_are_parsed_again(tmp_path, store):
    folder = tmp_path / "dags"
    folder.mkdir()
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    _write(folder / "b.py", GOOD.format(dag_id="b"))
    processor = DagFolder(folder, store)
    assert sorted(processor.refresh().changed) == ["a", "b"]
    assert processor.refresh().changed == []
    _write(folder / "b.py", GOOD.format(dag_id="b") + "\n# edited\n")
    assert processor.refresh().changed == ["b"]


def test_a_removed_dag_stops_being_active_and_keeps_its_history(tmp_path, store):
    folder = tmp_path / "dags"
    folder.mkdir()
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    processor = DagFolder(folder, store)
    processor.refresh()
    from datetime import datetime, timezone

    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    store.create_dag_run("a", "r1", day, day, day, "manual", {}, state="success")
    (folder / "a.py").unlink()

    changes = processor.refresh()

    assert changes.removed == ["a"] and "a" not in processor.dags
    assert store.get_dag("a").is_active is False
    assert [r.run_id for r in store.list_dag_runs("a")] == ["r1"]


def test_a_fixed_file_loses_its_import_error(tmp_path, store):
    folder = tmp_path / "dags"
    folder.mkdir()
    _write(folder / "a.py", "from daskflow import DAG\nraise ValueError('broken dag')\n")
    processor = DagFolder(folder, store)
    processor.refresh()
    assert "ValueError: broken dag" in store.list_import_errors()[0].stacktrace
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    processor.refresh()
    assert store.list_import_errors() == []
    assert "a" in processor.dags
