"""DAG files imported in parse processes: whatever a file does, the parent carries on.

Each hostile file sits between two good ones and one parse process does the
files in order, so the good file after it proves the parent went on in a new
process. Deadlines are generous and never asserted on: the machine is shared.
"""

from __future__ import annotations

import gc
import os
import sys
import textwrap
import time
from pathlib import Path

import dask
import psutil
import pytest

from daskflow.exceptions import DaskflowError
from daskflow.scheduler.dag_processor import ParseLimits, build_version, memory_limit, parse_files
from daskflow.scheduler.import_errors import last_line
from daskflow.scheduler.parse_protocol import MessageReader, ProtocolError, decode, encode

GOOD = '''
from daskflow import DAG
from daskflow.operators import EmptyOperator
with DAG("{dag_id}"):
    EmptyOperator(task_id="t")
'''

HOSTILE = {
    "os_exit": ("import os\nfrom daskflow import DAG\nos._exit(0)\n",
                "exited with code 0"),
    "sys_exit": ("import sys\nfrom daskflow import DAG\nsys.exit(3)\n",
                 "called sys.exit(3) while being imported"),
    "raise_system_exit": ("from daskflow import DAG\nraise SystemExit\n",
                          "called sys.exit(None) while being imported"),
    "segfault": ("import ctypes\nfrom daskflow import DAG\nctypes.string_at(0)\n",
                 "was killed by SIGSEGV"),
    "sigterm": ("import os, signal\nfrom daskflow import DAG\n"
                "os.kill(os.getpid(), signal.SIGTERM)\n", "was killed by SIGTERM"),
    "keyboard_interrupt": ("from daskflow import DAG\nraise KeyboardInterrupt\n",
                           "KeyboardInterrupt"),
}


def _write(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def _parse(folder: Path, **limits) -> dict:
    paths = sorted(folder.glob("*.py"))
    return parse_files(paths, ParseLimits(**{"processes": 1, **limits}), root=folder)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_file_that_exits_or_crashes_is_an_import_error_and_the_next_file_loads(
        tmp_path, name):
    source, reason = HOSTILE[name]
    _write(tmp_path, "a_good.py", GOOD.format(dag_id="first"))
    hostile = _write(tmp_path, f"m_{name}.py", source)
    _write(tmp_path, "z_good.py", GOOD.format(dag_id="last"))

    results = _parse(tmp_path)

    assert [d.dag_id for d in results[str(tmp_path / "a_good.py")].dags] == ["first"]
    assert [d.dag_id for d in results[str(tmp_path / "z_good.py")].dags] == ["last"]
    error = results[str(hostile)].error
    assert results[str(hostile)].dags == []
    assert reason in error
    assert str(hostile) in last_line(error) or "KeyboardInterrupt" in last_line(error)


def test_a_segfault_shows_where_the_file_crashed(tmp_path):
    hostile = _write(tmp_path, "crash.py", HOSTILE["segfault"][0])
    error = _parse(tmp_path)[str(hostile)].error
    assert f'File "{hostile}", line 3' in error
    assert last_line(error).startswith(f"DagImportError: the parse process importing {hostile}")


@pytest.mark.slow
def test_a_hanging_file_is_killed_with_what_it_started_and_its_stack_is_kept(tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    hangs = _write(tmp_path, "hangs.py", f'''
        import subprocess, time
        from daskflow import DAG
        sleeper = subprocess.Popen(["sleep", "600"])
        open({str(pid_file)!r}, "w").write(str(sleeper.pid))
        time.sleep(600)
    ''')
    _write(tmp_path, "z_good.py", GOOD.format(dag_id="after_the_hang"))

    results = _parse(tmp_path, timeout=2)

    error = results[str(hangs)].error
    assert last_line(error) == (
        f"DagImportError: parsing {hangs} took longer than 2s (daskflow.parse-timeout); its "
        "parse process was killed and the file is skipped until it changes")
    assert f'File "{hangs}", line 6 in <module>' in error  # the stack dumped before the kill
    assert [d.dag_id for d in results[str(tmp_path / "z_good.py")].dags] == ["after_the_hang"]
    sleeper = int(pid_file.read_text())
    deadline = time.monotonic() + 60
    while psutil.pid_exists(sleeper) and psutil.Process(sleeper).status() != "zombie":
        assert time.monotonic() < deadline, "the process the file started is still running"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_slow_file_holds_up_one_process_and_the_others_go_on(tmp_path):
    # The slow file finishes only once every quick file was parsed meanwhile: in a
    # single process it would wait in vain and fail.
    started = tmp_path / "slow_started"
    done = [tmp_path / f"done_{i}" for i in range(6)]
    _write(tmp_path, "a_slow.py", f'''
        import time
        from pathlib import Path
        from daskflow import DAG
        Path({str(started)!r}).touch()
        deadline = time.monotonic() + 90
        while not all(Path(p).exists() for p in {[str(p) for p in done]!r}):
            if time.monotonic() > deadline:
                raise RuntimeError("the quick files were not parsed meanwhile")
            time.sleep(0.1)
        with DAG("slow"):
            pass
    ''')
    for i in range(6):
        _write(tmp_path, f"b_{i}.py", GOOD.format(dag_id=f"quick_{i}") + textwrap.dedent(f'''
            import time
            from pathlib import Path
            deadline = time.monotonic() + 90
            while not Path({str(started)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            Path({str(done[i])!r}).touch()
        '''))

    results = parse_files(sorted(tmp_path.glob("*.py")), ParseLimits(timeout=180, processes=2),
                          root=tmp_path)

    assert {path: r.error for path, r in results.items() if r.error} == {}
    assert sorted(d.dag_id for r in results.values() for d in r.dags) == [
        *[f"quick_{i}" for i in range(6)], "slow"]


def test_quick_files_share_one_process_however_many_are_allowed(tmp_path, monkeypatch):
    import daskflow.scheduler.dag_processor as processor

    # However slow this machine is today, no file counts as slow here.
    monkeypatch.setattr(processor, "GROW_AFTER", 3600)
    pids = tmp_path / "pids"
    for i in range(6):
        _write(tmp_path, f"q_{i}.py", GOOD.format(dag_id=f"q_{i}") +
               f"\nimport os\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n")
    results = parse_files(sorted(tmp_path.glob("*.py")), ParseLimits(processes=2),
                          root=tmp_path)
    assert all(len(r.dags) == 1 for r in results.values()) and len(results) == 6
    assert len(set(pids.read_text().split())) == 1


def test_a_memory_hog_is_an_import_error_naming_the_limit(tmp_path):
    hog = _write(tmp_path, "hog.py", '''
        from daskflow import DAG
        chunks = [bytearray(2**26) for _ in range(48)]  # 3 GiB
    ''')
    _write(tmp_path, "z_good.py", GOOD.format(dag_id="after_the_hog"))

    results = _parse(tmp_path, memory=512 * 2**20)

    error = results[str(hog)].error
    assert "MemoryError" in error
    assert last_line(error).startswith(
        f"DagImportError: importing {hog} needed more memory than daskflow.parse-memory-limit "
        "allows (512MiB)")
    assert [d.dag_id for d in results[str(tmp_path / "z_good.py")].dags] == ["after_the_hog"]


@pytest.mark.slow
def test_numpy_and_pandas_import_under_a_512MiB_limit(tmp_path):
    # RLIMIT_AS would fail here: OpenBLAS reserves address space for its threads.
    path = _write(tmp_path, "frames.py", '''
        import numpy, pandas
        from daskflow import DAG
        from daskflow.operators import EmptyOperator
        frame = pandas.DataFrame({"x": numpy.arange(1000)})
        buffer = numpy.ones(2**26, dtype="uint8")  # 64 MiB, well under the limit
        with DAG("frames", tags=[str(frame.x.sum())]):
            EmptyOperator(task_id="t")
    ''')
    parsed = _parse(tmp_path, memory=512 * 2**20)[str(path)]
    assert parsed.error is None
    assert parsed.dags[0].tags == ["499500"]


def test_what_a_file_prints_goes_to_stderr_and_never_into_the_messages(tmp_path, capfd):
    path = _write(tmp_path, "noisy.py", '''
        import os, sys
        from daskflow import DAG
        from daskflow.operators import EmptyOperator
        print("to stdout " * 20000)
        print("to stderr", file=sys.stderr)
        os.write(1, b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x10raw bytes on fd 1\\n")
        with DAG("noisy"):
            EmptyOperator(task_id="t")
    ''')
    parsed = _parse(tmp_path)[str(path)]
    assert parsed.error is None and [d.dag_id for d in parsed.dags] == ["noisy"]
    out, err = capfd.readouterr()
    assert "to stdout" not in out and "raw bytes on fd 1" not in out
    assert "to stderr" in err and "raw bytes on fd 1" in err and err.count("to stdout") == 20000


def test_dags_come_back_whole_and_the_parent_runs_none_of_the_files_code(tmp_path):
    marker = tmp_path / "imported_by"
    path = _write(tmp_path, "whole.py", f'''
        import os
        from daskflow import DAG, TaskGroup, task
        from daskflow.operators import EmptyOperator

        with open({str(marker)!r}, "a") as f:
            f.write(f"{{os.getpid()}}\\n")

        class Doubler:
            def __call__(self, x):
                return 2 * x

        with DAG("whole") as dag:
            @task
            def extract():
                return 21

            @task
            def double(x):
                return Doubler()(x)

            with TaskGroup("group"):
                done = EmptyOperator(task_id="done")
            double(extract()) >> done
    ''')
    modules = set(sys.modules)

    [dag] = _parse(tmp_path)[str(path)].dags

    [importer] = marker.read_text().splitlines()  # imported once, in another process
    assert importer != str(os.getpid())
    # Receiving the DAG may import libraries it refers to (daskflow's operators), never
    # the DAG file or anything of its folder.
    arrived = {name: getattr(sys.modules[name], "__file__", None) or ""
               for name in set(sys.modules) - modules}
    assert [name for name, file in arrived.items()
            if name.startswith("daskflow_dag_") or file.startswith(str(tmp_path))] == []
    assert all(task.dag is dag for task in dag.tasks)
    assert dag.task_dict["group.done"].upstream_task_ids == {"double"}
    assert dag.task_dict["double"].python_callable(21) == 42  # a by-value copy works here
    assert dag.fileloc == str(path)


def test_an_unpicklable_dag_is_an_import_error_saying_why(tmp_path):
    path = _write(tmp_path, "locked.py", '''
        import threading
        from daskflow import DAG
        from daskflow.operators import PythonOperator
        LOCK = threading.Lock()
        def guarded():
            with LOCK:
                return 1
        with DAG("locked"):
            PythonOperator(task_id="t", python_callable=guarded)
    ''')
    error = _parse(tmp_path)[str(path)].error
    assert last_line(error).startswith(f"DagImportError: the DAGs of {path} cannot be sent "
                                       "from the parse process (TypeError:")


def test_each_call_reads_helper_modules_afresh_and_the_parent_never_imports_them(tmp_path):
    _write(tmp_path, "dagfolder_helper_for_tests.py", "NAME = 'first'\n")
    path = _write(tmp_path, "uses_helper.py", '''
        from daskflow import DAG
        from daskflow.operators import PythonOperator
        import dagfolder_helper_for_tests as helper
        def name():
            return helper.NAME
        with DAG("uses_helper", tags=[helper.NAME]):
            PythonOperator(task_id="t", python_callable=name)
    ''')
    [first] = _parse(tmp_path)[str(path)].dags
    _write(tmp_path, "dagfolder_helper_for_tests.py", "NAME = 'second'\n")
    [second] = _parse(tmp_path)[str(path)].dags

    assert (first.tags, second.tags) == (["first"], ["second"])
    assert second.task_dict["t"].python_callable() == "second"
    assert "dagfolder_helper_for_tests" not in sys.modules


@pytest.mark.slow
def test_reparsing_keeps_no_old_dags_and_no_modules_in_the_parent(tmp_path):
    import weakref

    path = tmp_path / "again.py"
    refs = []
    _write(tmp_path, "again.py", GOOD.format(dag_id="again"))
    _parse(tmp_path)  # the first DAG received imports the libraries it refers to, once
    modules = set(sys.modules)
    for i in range(10):  # 30 through the loop's DagFolder in test_dag_folder.py
        _write(tmp_path, "again.py", GOOD.format(dag_id="again") + f"\nVERSION = {i}\n")
        [dag] = _parse(tmp_path)[str(path)].dags
        refs.append(weakref.ref(dag))
        del dag
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0
    assert set(sys.modules) == modules


def test_a_stored_source_is_built_in_a_parse_process(tmp_path):
    source = GOOD.format(dag_id="stored") + "\nimport os\nos._exit(0) if False else None\n"
    built = build_version(textwrap.dedent(source), "/gone/stored.py", "stored",
                          ParseLimits(processes=1))
    assert built.error is None and built.dags[0].dag_id == "stored"
    assert built.dags[0].fileloc == "/gone/stored.py"
    exiting = build_version("import os\nos._exit(7)\n", "/gone/exits.py", "x",
                            ParseLimits(processes=1))
    assert "exited with code 7" in last_line(exiting.error)


def test_a_parse_process_that_cannot_start_is_an_error_of_the_file_not_a_hang(
        tmp_path, monkeypatch):
    path = _write(tmp_path, "fine.py", GOOD.format(dag_id="fine"))
    monkeypatch.setattr(sys, "executable", "/bin/false")
    error = _parse(tmp_path)[str(path)].error
    assert last_line(error) == (
        f"DagImportError: no parse process could be started for {path}: it exited with code "
        "1; check that this Python can run `python -m daskflow.scheduler.parse_child`")


@pytest.mark.parametrize(("value", "expected"), [
    ("2GiB", 2 * 2**30), ("512MiB", 512 * 2**20), ("1.5GB", 1_500_000_000),
    (1073741824, 2**30), (None, None), ("null", None), (0, None)])
def test_memory_limit_values(value, expected):
    assert memory_limit(value) == expected


def test_bad_settings_name_the_setting():
    with pytest.raises(DaskflowError, match="daskflow.parse-memory-limit must be bytes"):
        memory_limit("lots")
    with dask.config.set({"daskflow.parse-processes": 0}), \
            pytest.raises(DaskflowError, match="daskflow.parse-processes must be a whole"):
        ParseLimits.from_config()
    with dask.config.set({"daskflow.parse-timeout": 7, "daskflow.parse-memory-limit": "1GiB",
                          "daskflow.parse-processes": 3}):
        assert ParseLimits.from_config() == ParseLimits(timeout=7, memory=2**30, processes=3)


def test_a_fault_inside_daskflow_is_still_an_answer_for_the_file(tmp_path, monkeypatch):
    import daskflow.scheduler.dag_processor as processor

    path = _write(tmp_path, "fine.py", GOOD.format(dag_id="fine"))

    def broken(key, reply):
        raise RuntimeError("a bug in the parent")

    monkeypatch.setattr(processor, "_file_parse", broken)
    error = _parse(tmp_path)[str(path)].error
    assert last_line(error) == (
        f"DagImportError: parsing {path} failed inside daskflow (RuntimeError: a bug in the "
        "parent); the file is parsed again when it changes")


def test_messages_are_framed_and_refuse_anything_but_plain_values():
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, encode(("start", "/d/a.py")) +
                 encode(("done", "/d/a.py", {"x": b"1"})))
        os.close(write_fd)
        reader = MessageReader(read_fd)
        assert reader.read(time.monotonic() + 5) == ("start", "/d/a.py")
        assert reader.read(time.monotonic() + 5) == ("done", "/d/a.py", {"x": b"1"})
        assert reader.read(time.monotonic() + 5) is None
    finally:
        os.close(read_fd)
    import pickle

    with pytest.raises(ProtocolError, match="may not refer to posix.system"):
        decode(pickle.dumps(os.system))
    with pytest.raises(ProtocolError, match="unreadable message"):
        decode(b"not a pickle")
