"""The DAG folder processor: isolation, time limits, changes and removals, never blocking."""

from __future__ import annotations

import gc
import os
import sys
import textwrap
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest

from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.dagbag import DagBag
from daskflow.scheduler.import_errors import last_line

GOOD = '''
from daskflow import DAG
from daskflow.operators import EmptyOperator
with DAG("{dag_id}", schedule="@daily"):
    EmptyOperator(task_id="t")
'''

# Imports only once ``release`` exists; says so in ``started`` first.
HELD = '''
import time
from pathlib import Path
from daskflow import DAG
Path({started!r}).touch()
deadline = time.monotonic() + 120
while not Path({release!r}).exists() and time.monotonic() < deadline:
    time.sleep(0.05)
with DAG("held"):
    pass
'''


def _write(path: Path, source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    # Make the change visible to an mtime check even within one clock tick.
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 1))


def _wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_hanging_file_times_out_and_the_others_load(tmp_path, store):
    folder = tmp_path / "dags"
    _write(folder / "good.py", GOOD.format(dag_id="good"))
    _write(folder / "hangs.py", "import time\nfrom daskflow import DAG\ntime.sleep(60)\n")

    changes = DagFolder(folder, store, parse_timeout=1.0).refresh()

    assert changes.changed == ["good"]
    errors = {e.filename: e.stacktrace for e in store.list_import_errors()}
    assert list(errors) == [str(folder / "hangs.py")]
    assert "took longer than 1s" in errors[str(folder / "hangs.py")]
    assert store.get_dag("good").is_active


def test_only_changed_files_are_parsed_again(tmp_path, store):
    folder = tmp_path / "dags"
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    _write(folder / "b.py", GOOD.format(dag_id="b"))
    processor = DagFolder(folder, store)
    assert sorted(processor.refresh().changed) == ["a", "b"]
    assert processor.refresh(wait=True).changed == []
    _write(folder / "b.py", GOOD.format(dag_id="b") + "\n# edited\n")
    assert processor.refresh(wait=True).changed == ["b"]


def test_a_removed_dag_stops_being_active_and_keeps_its_history(tmp_path, store):
    folder = tmp_path / "dags"
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    processor = DagFolder(folder, store)
    processor.refresh()
    day = datetime(2025, 1, 1, tzinfo=timezone.utc)
    store.create_dag_run("a", "r1", day, day, day, "manual", {}, state="success")
    (folder / "a.py").unlink()

    changes = processor.refresh()  # nothing to parse: a removal is applied at once

    assert changes.removed == ["a"] and "a" not in processor.dags
    assert store.get_dag("a").is_active is False
    assert [r.run_id for r in store.list_dag_runs("a")] == ["r1"]


def test_a_fixed_file_loses_its_import_error(tmp_path, store):
    folder = tmp_path / "dags"
    _write(folder / "a.py", "from daskflow import DAG\nraise ValueError('broken dag')\n")
    processor = DagFolder(folder, store)
    processor.refresh()
    assert "ValueError: broken dag" in store.list_import_errors()[0].stacktrace
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    processor.refresh(wait=True)
    assert store.list_import_errors() == []
    assert "a" in processor.dags


@pytest.mark.slow
def test_files_that_exit_or_crash_are_import_errors_and_this_process_carries_on(tmp_path,
                                                                                 store):
    folder = tmp_path / "dags"
    _write(folder / "good.py", GOOD.format(dag_id="good"))
    _write(folder / "os_exit.py", "import os\nfrom daskflow import DAG\nos._exit(0)\n")
    _write(folder / "sys_exit.py", "import sys\nfrom daskflow import DAG\nsys.exit(3)\n")
    _write(folder / "crash.py", "import ctypes\nfrom daskflow import DAG\nctypes.string_at(0)\n")

    processor = DagFolder(folder, store)
    processor.refresh()

    assert list(processor.dags) == ["good"]
    reasons = {Path(e.filename).name: last_line(e.stacktrace)
               for e in store.list_import_errors()}
    assert sorted(reasons) == ["crash.py", "os_exit.py", "sys_exit.py"]
    assert "was killed by SIGSEGV" in reasons["crash.py"]
    assert "exited with code 0" in reasons["os_exit.py"]
    assert "called sys.exit(3)" in reasons["sys_exit.py"]


@pytest.mark.slow
def test_refresh_returns_while_a_file_is_still_importing_and_other_files_go_on(tmp_path,
                                                                              store):
    folder = tmp_path / "dags"
    started, release = tmp_path / "started", tmp_path / "release"
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    processor = DagFolder(folder, store)
    processor.refresh()
    try:
        _write(folder / "held.py", HELD.format(started=str(started), release=str(release)))
        _write(folder / "b.py", GOOD.format(dag_id="b"))

        assert processor.refresh().changed == []  # started the batch, did not wait for it
        _wait_for(started.exists, "the held file to start importing")
        _wait_for(lambda: "b" in processor.refresh().changed or "b" in processor.dags,
                  "b to load while held.py is still importing")

        assert processor.parsing and "held" not in processor.dags and not release.exists()
        assert store.get_dag("b").is_active
    finally:
        release.touch()
    _wait_for(lambda: "held" in processor.refresh().changed, "held to load once released")
    _wait_for(lambda: not processor.parsing, "the batch to end")


@pytest.mark.slow
def test_one_dag_id_in_two_files_is_an_error_of_both_and_loads_from_neither(tmp_path, store):
    folder = tmp_path / "dags"
    count = tmp_path / "a_imports"
    _write(folder / "a.py", f'''
        from daskflow import DAG
        open({str(count)!r}, "a").write("x")
        with DAG("shared"):
            pass
        with DAG("only_in_a"):
            pass
    ''')
    _write(folder / "b.py", GOOD.format(dag_id="shared"))
    processor = DagFolder(folder, store)
    processor.refresh()

    assert sorted(processor.dags) == ["only_in_a"]
    expected = (f"DagDefinitionError: DAG id 'shared' is defined in both {folder / 'a.py'} "
                f"and {folder / 'b.py'}; rename one of them (until then the DAG is loaded "
                "from none of these files)")
    stored = {e.filename: last_line(e.stacktrace) for e in store.list_import_errors()}
    assert stored == {str(folder / "a.py"): expected, str(folder / "b.py"): expected}
    # The CLI's parse of the same folder says exactly the same.
    bag = DagBag.load(folder)
    assert bag.import_errors == processor.errors and sorted(bag.dags) == ["only_in_a"]

    (folder / "b.py").unlink()
    changes = processor.refresh(wait=True)

    assert changes.changed == ["shared"] and sorted(processor.dags) == ["only_in_a", "shared"]
    assert processor.dags["shared"].fileloc == str(folder / "a.py")
    assert store.list_import_errors() == [] and store.get_dag("shared").is_active
    assert count.read_text() == "xx"  # once by the loop, once by DagBag: not again for this


@pytest.mark.slow
def test_ignored_paths_are_never_executed(tmp_path, store):
    folder = tmp_path / "dags"
    marks = tmp_path / "marks"
    marks.mkdir()
    trap = f'''
        from pathlib import Path
        from daskflow import DAG
        Path({str(marks)!r}, __file__.replace("/", "_")).touch()
        with DAG("trap_" + Path(__file__).stem):
            pass
    '''
    _write(folder / "kept.py", GOOD.format(dag_id="kept"))
    for name in [".venv/lib/site.py", "_helpers/helper.py", "node_modules/pkg/index.py",
                 "__pycache__/kept.py", "drafts/wip.py", "team/old_etl.py", "_private.py"]:
        _write(folder / name, trap)
    _write(folder / ".daskflowignore", "drafts/\n*_etl.py\n")

    processor = DagFolder(folder, store)
    processor.refresh()
    bag = DagBag.load(folder)

    assert list(processor.dags) == ["kept"] and list(bag.dags) == ["kept"]
    assert list(marks.iterdir()) == []


@pytest.mark.slow
def test_an_edited_helper_module_is_seen_when_the_dag_file_is_parsed_again(tmp_path, store):
    folder = tmp_path / "dags"
    _write(folder / "_shared" / "naming.py", "NAME = 'first'\n")
    _write(folder / "named.py", '''
        from daskflow import DAG
        from _shared.naming import NAME
        with DAG("named", tags=[NAME]):
            pass
    ''')
    processor = DagFolder(folder, store)
    processor.refresh()
    _write(folder / "_shared" / "naming.py", "NAME = 'second'\n")
    _write(folder / "named.py", (folder / "named.py").read_text() + "# touched\n")

    processor.refresh(wait=True)

    assert processor.dags["named"].tags == ["second"]
    assert store.get_dag("named").tags == ("second",)
    assert not any(name.startswith("_shared") for name in sys.modules)


@pytest.mark.slow
def test_reparsing_keeps_only_the_current_dags_alive_and_leaks_nothing(tmp_path, store):
    folder = tmp_path / "dags"
    _write(folder / "again.py", GOOD.format(dag_id="again"))
    processor = DagFolder(folder, store)
    processor.refresh()
    modules, threads = set(sys.modules), threading.active_count()
    refs = []
    for i in range(30):
        _write(folder / "again.py", GOOD.format(dag_id="again") + f"\nVERSION = {i}\n")
        assert processor.refresh(wait=True).changed == ["again"]
        refs.append(weakref.ref(processor.dags["again"]))
        refs.extend(weakref.ref(task) for task in processor.dags["again"].tasks)
    gc.collect()

    alive = [ref() for ref in refs if ref() is not None]
    assert alive == [processor.dags["again"], *processor.dags["again"].tasks]
    assert set(sys.modules) == modules
    _wait_for(lambda: threading.active_count() <= threads, "the parsing threads to end", 30)
    assert len(store.list_dag_versions("again")) == 31


@pytest.mark.slow
def test_close_kills_the_parse_process_of_a_running_batch(tmp_path, store):
    folder = tmp_path / "dags"
    pid_file = tmp_path / "pid"
    _write(folder / "a.py", GOOD.format(dag_id="a"))
    processor = DagFolder(folder, store)
    processor.refresh()
    _write(folder / "hangs.py", f'''
        import os, time
        from daskflow import DAG
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(600)
    ''')
    processor.refresh()
    _wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the file to start")
    child = int(pid_file.read_text())

    processor.close()

    assert not processor.parsing
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
