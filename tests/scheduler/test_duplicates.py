"""One DAG id, one file: the rule as a table, then a folder parsed by the CLI's DagBag."""

from __future__ import annotations

import textwrap

import pytest

from daskflow.scheduler.dagbag import DagBag
from daskflow.scheduler.duplicates import resolve
from daskflow.scheduler.import_errors import last_line

# (DAG ids by file, owner of each loaded DAG id, files with an error and the ids named)
CASES = [
    ({}, {}, {}),
    ({"a": ["x"], "b": ["y"]}, {"x": "a", "y": "b"}, {}),
    ({"a": ["x"], "b": ["x"]}, {}, {"a": ["x"], "b": ["x"]}),
    ({"a": ["x", "y"], "b": ["x"]}, {"y": "a"}, {"a": ["x"], "b": ["x"]}),
    ({"a": ["x"], "b": ["x"], "c": ["x"]}, {}, {"a": ["x"], "b": ["x"], "c": ["x"]}),
    ({"a": ["x", "y"], "b": ["x", "y"], "c": ["z"]}, {"z": "c"},
     {"a": ["x", "y"], "b": ["x", "y"]}),
    ({"a": [], "b": ["x"]}, {"x": "b"}, {}),
]


@pytest.mark.parametrize(("ids_by_file", "owner", "clashing"), CASES)
def test_resolve(ids_by_file, owner, clashing):
    found_owner, errors = resolve(ids_by_file)
    assert found_owner == owner
    assert sorted(errors) == sorted(clashing)
    for path, dag_ids in clashing.items():
        for dag_id in dag_ids:
            assert f"DAG id {dag_id!r} is defined in" in errors[path]


def test_the_message_names_every_file():
    _, errors = resolve({"/d/a.py": ["x"], "/d/b.py": ["x"], "/d/c.py": ["x"]})
    assert last_line(errors["/d/b.py"]) == (
        "DagDefinitionError: DAG id 'x' is defined in 3 files: /d/a.py, /d/b.py, /d/c.py; "
        "rename one of them (until then the DAG is loaded from none of these files)")


def test_the_cli_loads_the_shared_id_from_neither_file_and_keeps_the_others(tmp_path):
    for name, ids in {"a.py": ["shared", "alpha"], "b.py": ["shared"], "c.py": ["gamma"]}.items():
        body = "".join(f"with DAG({dag_id!r}):\n    pass\n" for dag_id in ids)
        (tmp_path / name).write_text("from daskflow import DAG\n" + textwrap.dedent(body))

    bag = DagBag.load(tmp_path)

    assert sorted(bag.dags) == ["alpha", "gamma"]
    assert sorted(bag.import_errors) == [str(tmp_path / "a.py"), str(tmp_path / "b.py")]
    assert f"both {tmp_path / 'a.py'} and {tmp_path / 'b.py'}" in bag.import_errors[
        str(tmp_path / "b.py")]
    assert bag.sources["alpha"] == (tmp_path / "a.py").read_text()


def test_one_id_twice_in_one_file_is_that_files_error(tmp_path):
    (tmp_path / "twice.py").write_text(
        "from daskflow import DAG\nwith DAG('x'):\n    pass\nwith DAG('x'):\n    pass\n")
    bag = DagBag.load(tmp_path)
    assert bag.dags == {}
    assert last_line(bag.import_errors[str(tmp_path / "twice.py")]) == (
        f"DagDefinitionError: {tmp_path / 'twice.py'}: DAG id 'x' is defined twice in this file")
