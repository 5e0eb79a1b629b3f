"""S3 paths against a real S3-compatible server (moto in server mode on 127.0.0.1):
``FsspecHook`` with an ``aws`` connection, ``FileSensor`` on a ``_SUCCESS`` marker and a
glob in a run, ``FileTransferOperator`` local -> s3 and s3 -> memory, and wrong
credentials refused by the server with its authentication switched on.

The server is in this process; the Dask workers reach it over HTTP with the
credentials of a connection kept in the run's store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import fsspec
import pytest
import requests
import s3fs
from moto.server import ThreadedMotoServer

from daskflow import DAG
from daskflow.exceptions import DaskflowError
from daskflow.hooks.filesystem import FsspecHook
from daskflow.operators.file_transfer import FileTransferOperator
from daskflow.sensors import FileSensor
from daskflow.store import ConnectionRecord, Store

KEY, SECRET = "AKIDLAKEEXAMPLE", "lake-secret-7f3e"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, request) -> str:
    """A new bucket named after the test, seen through a client of the test's own."""
    name = request.node.name.replace("_", "-")[:50].strip("-").lower()
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, skip_instance_cache=True,
                           client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir(name)
    return name


def _direct(endpoint: str) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(key=KEY, secret=SECRET, skip_instance_cache=True,
                             client_kwargs={"endpoint_url": endpoint})


def _aws(conn_id: str, endpoint: str, secret: str = SECRET, key: str = KEY) -> ConnectionRecord:
    return ConnectionRecord(conn_id=conn_id, conn_type="aws", login=key, password=secret,
                            extra=json.dumps({"endpoint_url": endpoint,
                                              "region_name": "us-east-1"}))


def test_hook_reads_writes_and_globs_with_an_aws_connection(s3_endpoint, bucket, monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_LAKE", json.dumps({
        "conn_type": "aws", "login": KEY, "password": SECRET,
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}))
    hook = FsspecHook(fs_conn_id="lake")
    options = hook.storage_options("s3")
    assert options["client_kwargs"] == {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}
    hook.write_bytes(f"s3://{bucket}/in/a.csv", b"1,2\n")
    hook.write_bytes(f"s3://{bucket}/in/b.csv", b"3,4\n")
    assert hook.exists(f"s3://{bucket}/in/a.csv")
    assert not hook.exists(f"s3://{bucket}/in/c.csv")
    assert hook.glob(f"s3://{bucket}/in/*.csv") == [f"{bucket}/in/a.csv", f"{bucket}/in/b.csv"]
    assert hook.read_bytes(f"s3://{bucket}/in/b.csv") == b"3,4\n"
    # What the hook wrote is on the server, as another client sees it.
    assert _direct(s3_endpoint).cat_file(f"{bucket}/in/a.csv") == b"1,2\n"


def test_transfer_from_s3_to_memory(s3_endpoint, bucket, monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_LAKE", json.dumps({
        "conn_type": "aws", "login": KEY, "password": SECRET,
        "extra": {"endpoint_url": s3_endpoint}}))
    direct = _direct(s3_endpoint)
    direct.pipe_file(f"{bucket}/out/x.json", b'{"x": 1}')
    direct.pipe_file(f"{bucket}/out/y.json", b'{"y": 2}')
    direct.pipe_file(f"{bucket}/out/z.txt", b"not json")
    copy = FileTransferOperator(task_id="to_memory", src=f"s3://{bucket}/out/*.json",
                                dst=f"memory://{bucket}/copied/", source_conn_id="lake")
    written = copy.execute({})
    assert sorted(written) == [f"/{bucket}/copied/x.json", f"/{bucket}/copied/y.json"]
    memory = fsspec.filesystem("memory")
    assert memory.cat_file(f"/{bucket}/copied/y.json") == b'{"y": 2}'
    assert not memory.exists(f"/{bucket}/copied/z.txt")


def _deliver(bucket: str, day: str) -> None:
    hook = FsspecHook(fs_conn_id="lake")
    hook.write_bytes(f"s3://{bucket}/in/{day}/_SUCCESS", b"")


@pytest.mark.slow  # waits out the 1 s timeout of the sensor on an absent marker
def test_sensors_and_transfers_on_s3_in_a_run(s3_endpoint, bucket, dask_client, db_url,
                                              tmp_path):
    from daskflow.operators import PythonOperator

    store = Store(db_url)
    store.init()
    store.set_connection(_aws("lake", s3_endpoint))
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "part-1.csv").write_text("a,1\n")
    (tmp_path / "landing" / "part-2.csv").write_text("b,2\n")
    day_url = f"s3://{bucket}/in/{{{{ ds }}}}"
    with DAG("s3_files", start_date=datetime(2024, 1, 1)) as dag:
        upload = FileTransferOperator(task_id="upload", src=str(tmp_path / "landing/*.csv"),
                                      dst=day_url + "/", dest_conn_id="lake")
        mark = PythonOperator(task_id="mark", python_callable=_deliver,
                              op_args=[bucket, "{{ ds }}"])
        marker = FileSensor(task_id="marker", fs_conn_id="lake", mode="reschedule",
                            poke_interval=0.2, timeout=120,
                            filepath=day_url + "/_SUCCESS")
        parts = FileSensor(task_id="parts", fs_conn_id="lake", poke_interval=0.2,
                           timeout=120, filepath=day_url + "/part-*.csv")
        FileSensor(task_id="absent", fs_conn_id="lake", poke_interval=0.2, timeout=1,
                   soft_fail=True, filepath=day_url + "/never/_SUCCESS")
        download = FileTransferOperator(task_id="download", src=day_url + "/part-2.csv",
                                        dst=str(tmp_path / "back" / "{{ ds }}.csv"),
                                        source_conn_id="lake")
        upload >> mark
        [marker, parts] >> download
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    errors = {t: r.error for t, r in result.tasks.items() if r.error}
    assert {t: r.state for t, r in result.tasks.items()} == {
        "upload": "success", "mark": "success", "marker": "success", "parts": "success",
        "absent": "skipped", "download": "success"}, errors
    assert sorted(_direct(s3_endpoint).ls(f"{bucket}/in/2024-01-02")) == [
        f"{bucket}/in/2024-01-02/_SUCCESS", f"{bucket}/in/2024-01-02/part-1.csv",
        f"{bucket}/in/2024-01-02/part-2.csv"]
    assert (tmp_path / "back" / "2024-01-02.csv").read_text() == "b,2\n"
    store.dispose()


@pytest.fixture
def enforced_auth(s3_endpoint) -> Iterator[tuple[str, str]]:
    """An access key the server knows (an IAM user allowed s3:*), then authentication
    switched on for the test and off again after it."""
    import boto3

    iam = boto3.client("iam", endpoint_url=s3_endpoint, region_name="us-east-1",
                       aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    iam.create_user(UserName="etl")
    key = iam.create_access_key(UserName="etl")["AccessKey"]
    iam.put_user_policy(UserName="etl", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    # moto's own switch: how many more requests go unauthenticated.
    requests.post(f"{s3_endpoint}/moto-api/reset-auth", data="0").raise_for_status()
    yield key["AccessKeyId"], key["SecretAccessKey"]
    requests.post(f"{s3_endpoint}/moto-api/reset-auth", data="inf").raise_for_status()


def test_wrong_credentials_fail_the_task_naming_the_connection(
        s3_endpoint, bucket, enforced_auth, dask_client, db_url, tmp_path):
    key, secret = enforced_auth
    wrong = "wrong-lake-secret-c0ffee"
    store = Store(db_url)
    store.init()
    store.set_connection(_aws("lake", s3_endpoint, secret=secret, key=key))
    store.set_connection(_aws("lake_wrong", s3_endpoint, secret=wrong, key=key))
    s3fs.S3FileSystem(key=key, secret=secret, skip_instance_cache=True,
                      client_kwargs={"endpoint_url": s3_endpoint}).pipe_file(
        f"{bucket}/ready/_SUCCESS", b"")
    (tmp_path / "report.csv").write_text("x\n")
    marker = f"s3://{bucket}/ready/_SUCCESS"
    with DAG("s3_credentials", start_date=datetime(2024, 1, 1)) as dag:
        FileSensor(task_id="right_key", fs_conn_id="lake", filepath=marker, timeout=30,
                   poke_interval=0.2)
        FileSensor(task_id="wrong_key", fs_conn_id="lake_wrong", filepath=marker,
                   timeout=30, poke_interval=0.2)
        FileTransferOperator(task_id="wrong_upload", src=str(tmp_path / "report.csv"),
                             dst=f"s3://{bucket}/out/report.csv", dest_conn_id="lake_wrong")
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    tasks = result.tasks
    assert {t: r.state for t, r in tasks.items()} == {
        "right_key": "success", "wrong_key": "failed", "wrong_upload": "failed"}
    for task_id in ("wrong_key", "wrong_upload"):
        error = tasks[task_id].error
        assert "connection 'lake_wrong'" in error and f"s3://{bucket}/" in error, error
        assert "PermissionError" in error and "check the connection's credentials" in error
        assert wrong not in error
        assert wrong not in store.get_log("s3_credentials", result.run_id, task_id)
    store.dispose()


def test_a_missing_connection_is_named(s3_endpoint):
    with pytest.raises(DaskflowError, match="'no_such_lake'"):
        FileSensor(task_id="s", fs_conn_id="no_such_lake", filepath="s3://b/k").poke({})


DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


@pytest.mark.slow  # a run on the cluster
def test_the_docs_s3_example_runs(s3_endpoint, dask_client, db_url, tmp_path):
    """docs/integrations.md's S3 FileSensor example, its bucket on the moto server."""
    section = DOC.read_text().split("## Files: FsspecHook", 1)[1].split("\n## ", 1)[0]
    [example] = [b for b in re.findall(r"```text\n(.*?)```", section, flags=re.S)
                 if "FileSensor(" in b]
    direct = _direct(s3_endpoint)
    if not direct.exists("lake"):
        direct.mkdir("lake")
    for name, body in (("part-1.csv", b"a\n"), ("part-2.csv", b"b\n"), ("_SUCCESS", b"")):
        direct.pipe_file(f"lake/exports/2025-03-04/{name}", body)
    store = Store(db_url)
    store.init()
    store.set_connection(_aws("lake", s3_endpoint))
    target = tmp_path / "fetched"
    namespace: dict = {"__name__": "doc_example"}
    exec(compile(example.replace("/tmp/daskflow-s3-example", str(target)), str(DOC), "exec"),
         namespace)
    dag = namespace["dag"]
    dag.task_dict["marker"].poke_interval = 0.2  # the doc's minute, shortened
    result = dag.test(logical_date="2025-03-04", cluster=dask_client, db=db_url)
    store.dispose()
    errors = {t: r.error for t, r in result.tasks.items() if r.error}
    assert {t: r.state for t, r in result.tasks.items()} == dict.fromkeys(
        ["marker", "parts", "fetch"], "success"), errors
    assert sorted(p.name for p in (target / "2025-03-04").iterdir()) == ["part-1.csv",
                                                                         "part-2.csv"]
