"""A Dask cluster class named in the settings: constructed, sized and closed by daskflow.

``distributed.LocalCluster`` named by its import path stands in for every
deployment library (dask-jobqueue, dask-kubernetes): daskflow uses the same
calls on each, the constructor, ``scale``, ``adapt`` and ``close``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dask
import pytest

from daskflow import DAG, task
from daskflow.exceptions import ClusterError
from daskflow.execution.cluster import connect
from daskflow.execution.cluster_class import ClusterSpec, load_cluster_class, spec_from_config

#: A LocalCluster in this process, started with no worker: only scaling adds them.
THREADED = {"processes": False, "n_workers": 0, "threads_per_worker": 3,
            "dashboard_address": ":0"}


def settings(**scale: int) -> dict:
    return {"daskflow.cluster-class": "distributed.LocalCluster",
            "daskflow.cluster-kwargs": THREADED, "daskflow.cluster-scale": scale}


@pytest.mark.slow
def test_a_configured_class_is_started_scaled_and_closed():
    with dask.config.set(settings(workers=2)), connect() as client:
        client.wait_for_workers(2)
        started = client.cluster
        assert type(started).__name__ == "LocalCluster"
        assert sorted(client.nthreads().values()) == [3, 3]
    assert started.status.name == "closed"
    assert client.status == "closed"


def test_workers_given_by_the_caller_win_over_the_configured_size():
    with dask.config.set(settings(workers=2)), connect(workers=1) as client:
        client.wait_for_workers(1)
        assert len(client.cluster.worker_spec) == 1


def test_an_adaptive_size_starts_the_minimum_with_nothing_to_do():
    with dask.config.set(settings(minimum=1, maximum=2)), connect() as client:
        client.wait_for_workers(1)
        adaptive = client.cluster._adaptive
        assert (adaptive.minimum, adaptive.maximum) == (1, 2)


@pytest.mark.slow
def test_an_address_wins_over_a_configured_class(dask_client):
    address = dask_client.scheduler.address
    with dask.config.set({"daskflow.cluster-class": "nowhere.Cluster"}), \
            connect(address) as client:
        assert client.scheduler.address == address


def test_dag_test_runs_on_the_configured_class(tmp_path: Path):
    out = tmp_path / "threads"

    with DAG("on_class", start_date=datetime(2025, 1, 1)) as dag:
        @task
        def threads_of_my_worker():
            from distributed import get_worker

            out.write_text(str(get_worker().state.nthreads))

        threads_of_my_worker()

    with dask.config.set(settings(workers=1)):
        result = dag.test(db=f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert result.state == "success"
    assert out.read_text() == "3"  # the configured class's worker, not a default LocalCluster


@pytest.mark.parametrize(("path", "says"), [
    ("nowhere.Cluster", "cannot be imported (No module named 'nowhere')"),
    ("distributed.NoSuchCluster", "module 'distributed' has no 'NoSuchCluster'"),
    ("LocalCluster", "is not an import path"),
])
def test_a_bad_class_path_is_one_error_naming_the_setting(path: str, says: str):
    with pytest.raises(ClusterError) as caught:
        load_cluster_class(path)
    assert str(caught.value).startswith(f"daskflow.cluster-class {path!r}")
    assert says in str(caught.value)


def test_kwargs_the_class_does_not_take_name_the_kwargs_setting():
    bad = {"daskflow.cluster-class": "distributed.LocalCluster",
           "daskflow.cluster-kwargs": {"processes": False, "no_such_argument": 1}}
    with dask.config.set(bad), pytest.raises(ClusterError, match="daskflow.cluster-kwargs"):
        with connect():
            pass


def test_a_class_that_is_not_a_cluster_is_refused():
    spec = ClusterSpec("collections.OrderedDict")
    with pytest.raises(ClusterError, match="is not a Dask cluster class"), connect(spec):
        pass


def test_a_fixed_and_an_adaptive_size_together_are_refused():
    with dask.config.set(settings(workers=2, minimum=1)), \
            pytest.raises(ClusterError, match="daskflow.cluster-scale sets both"):
        spec_from_config()


def test_no_class_configured_means_no_spec():
    assert spec_from_config() is None


def test_a_cluster_object_gets_a_client_and_is_left_running():
    from distributed import LocalCluster

    with LocalCluster(processes=False, n_workers=1, dashboard_address=":0") as cluster:
        with connect(cluster) as client:
            assert client.submit(sum, [1, 2]).result() == 3
        assert client.status == "closed"
        assert cluster.status.name == "running"
