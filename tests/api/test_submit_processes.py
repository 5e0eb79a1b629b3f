"""``dag.submit()`` from a script, on a ``dask scheduler`` + ``dask worker`` reached by
address and on the embedded LocalCluster; what the script leaves unfinished at exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daskflow import api

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = '''
import json, sys, time
from pathlib import Path

from daskflow import DAG, task

with DAG("scripted", schedule=None) as dag:
    @task
    def where():
        from distributed import get_worker
        return get_worker().address

    where()

with DAG("held", schedule=None) as held:
    @task
    def wait_for_gate():
        while not Path({gate!r}).exists():
            time.sleep(0.05)

    wait_for_gate()

if __name__ == "__main__":
    db, address = sys.argv[1], sys.argv[2]
    remote = [dag.submit(cluster=address, db=db) for _ in range(2)]
    local = dag.submit(db=db)  # the embedded LocalCluster, started once for this process
    results = [h.wait(timeout=120) for h in remote + [local]]
    left = held.submit(cluster=address, db=db)  # never waited for: the script ends first
    time.sleep(0.5)
    print(json.dumps({{"states": [r.state for r in results],
                       "workers": [r.xcom("where") for r in results],
                       "left": left.run_id}}))
'''


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DASKFLOW_DB", "CI")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["DASKFLOW_HOME"] = str(home)
    return env


@pytest.fixture
def address(tmp_path: Path) -> Iterator[tuple[str, set[str]]]:
    """A ``dask scheduler`` and one ``dask worker`` process: (address, worker addresses)."""
    from distributed import Client

    env = _env(tmp_path / "home")
    scheduler_file = tmp_path / "scheduler.json"
    started = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
         "--dashboard-address", ":0", "--scheduler-file", str(scheduler_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)]
    started.append(subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
         str(scheduler_file), "--nthreads", "2", "--nworkers", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path))
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert started[0].poll() is None and time.monotonic() < deadline, \
                "dask scheduler did not start"
            time.sleep(0.1)
        with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            yield client.scheduler.address, set(client.scheduler_info()["workers"])
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_a_script_submits_by_address_and_to_the_embedded_cluster(tmp_path, address):
    scheduler, workers = address
    script = tmp_path / "submit_script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(gate=str(tmp_path / "never"))))
    db = f"sqlite:///{tmp_path / 'daskflow.db'}"

    done = subprocess.run([sys.executable, str(script), db, scheduler],
                          env=_env(tmp_path / "home"), capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)

    (tmp_path / "never").touch()  # lets the held task's thread on the worker end
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["states"] == ["success"] * 3
    assert set(found["workers"][:2]) <= workers  # ran on the separately started worker
    assert found["workers"][2] not in workers  # ran on the embedded cluster
    left = api.get_run("held", found["left"], db=db)
    assert left.state == "failed" and left.owner_loop is None
    assert "the process that submitted the run closed it" in left.reason
    api.shutdown()
