"""``FsspecHook`` and ``FileTransferOperator`` on fsspec's local and memory file systems."""

from __future__ import annotations

from datetime import datetime

import fsspec
import pytest

from daskflow import DAG
from daskflow.exceptions import ConnectionNotFound
from daskflow.hooks.filesystem import FsspecHook, copy
from daskflow.operators.file_transfer import FileTransferOperator
from daskflow.store import ConnectionRecord, Store


def test_copy_between_file_systems_one_file_and_a_glob(tmp_path):
    memory = fsspec.filesystem("memory")
    memory.pipe_file("/inbox/a.csv", b"1,2\n")
    memory.pipe_file("/inbox/b.csv", b"3,4\n")
    memory.pipe_file("/inbox/notes.txt", b"skip me")
    one = copy("memory://inbox/a.csv", str(tmp_path / "out" / "first.csv"))
    assert one == [str(tmp_path / "out" / "first.csv")]
    assert (tmp_path / "out" / "first.csv").read_bytes() == b"1,2\n"
    many = copy("memory://inbox/*.csv", str(tmp_path / "all"))
    assert sorted(p.rsplit("/", 1)[-1] for p in many) == ["a.csv", "b.csv"]
    assert (tmp_path / "all" / "b.csv").read_bytes() == b"3,4\n"
    back = copy(str(tmp_path / "all" / "*.csv"), "memory://archive/")
    assert sorted(back) == ["/archive/a.csv", "/archive/b.csv"]


def test_copy_refuses_to_overwrite_or_copy_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("new")
    (tmp_path / "b.txt").write_text("old")
    with pytest.raises(FileExistsError, match="overwrite"):
        copy(str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), overwrite=False)
    assert (tmp_path / "b.txt").read_text() == "old"
    with pytest.raises(FileNotFoundError, match="nothing to copy"):
        copy(str(tmp_path / "none-*.txt"), str(tmp_path / "x"))


def test_s3_credentials_come_from_the_connection(monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_LAKE", "s3://AKIDEXAMPLE:lake-secret-key-1@minio.local:9000"
                       "?region_name=eu-west-1")
    options = FsspecHook(fs_conn_id="lake").storage_options("s3")
    assert options["key"] == "AKIDEXAMPLE" and options["secret"] == "lake-secret-key-1"
    assert options["client_kwargs"]["endpoint_url"] == "http://minio.local:9000"
    assert options["client_kwargs"]["region_name"] == "eu-west-1"  # where s3fs reads it
    assert FsspecHook().storage_options("s3") == {}  # fs_default undefined: fsspec's own
    with pytest.raises(ConnectionNotFound, match="'nowhere'"):
        FsspecHook(fs_conn_id="nowhere").storage_options("s3")


def test_file_transfer_operator_in_a_run(dask_client, db_url, tmp_path):
    (tmp_path / "landing").mkdir()
    for day in ("2024-01-01", "2024-01-02"):
        (tmp_path / "landing" / f"{day}.json").write_text(f'{{"day": "{day}"}}')
    store = Store(db_url)
    store.init()
    store.set_connection(ConnectionRecord(conn_id="warehouse_fs", conn_type="fs",
                                          extra='{"auto_mkdir": true}'))
    with DAG("transfer", start_date=datetime(2024, 1, 1)) as dag:
        FileTransferOperator(task_id="copy", src=str(tmp_path / "landing" / "{{ ds }}.json"),
                             dst=str(tmp_path / "warehouse") + "/{{ ds }}/",
                             dest_conn_id="warehouse_fs")
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    assert result.tasks["copy"].state == "success", result.tasks["copy"].error
    assert (tmp_path / "warehouse" / "2024-01-02" / "2024-01-02.json").read_text() == \
        '{"day": "2024-01-02"}'
    assert not (tmp_path / "warehouse" / "2024-01-01").exists()
