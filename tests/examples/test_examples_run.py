"""Every DAG in examples/ loads, runs on a real cluster, and ends as its docstring says.

One LocalCluster (2 worker processes x 1 thread, like a small laptop) serves
the whole module. Its workers start with ``DASKFLOW_HOME`` pointing at a
temporary folder, so nothing here writes to the real home; each test also
passes its own ``tmp_path`` through the run's conf wherever an example writes
files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daskflow.scheduler.dagbag import DagBag
from daskflow.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPECTED_DAGS = {"ml_pipeline", "taskflow_basics", "branching", "trigger_rules",
                 "dynamic_mapping", "bash_pipeline"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with pytest.MonkeyPatch.context() as patch:
        # Worker processes copy the environment when they start.
        patch.setenv("DASKFLOW_HOME", str(tmp_path_factory.mktemp("worker_home")))
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=40)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag.load(EXAMPLES)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DASKFLOW_HOME", str(tmp_path))
    return tmp_path


def run(bag: DagBag, dag_id: str, client: Any, tmp_path: Path, logical_date: str,
        conf: dict[str, Any] | None = None) -> Any:
    dag = bag.get_dag(dag_id)
    return dag.test(logical_date=logical_date, conf=conf, db=f"sqlite:///{tmp_path}/x.db",
                    cluster=client)


def states(result: Any) -> dict[str, str]:
    return {name: ti.state for name, ti in result.tasks.items()}


def xcom(tmp_path: Path, result: Any, task_id: str) -> Any:
    """The display copy of a task's return value, as the store keeps it."""
    store = Store(f"sqlite:///{tmp_path}/x.db")
    try:
        records = store.list_xcoms(result.dag_id, result.run_id, task_id)
    finally:
        store.dispose()
    value = next(r.value for r in records if r.key == "return_value")
    return json.loads(value) if isinstance(value, str) else value


def test_examples_load_without_errors(bag: DagBag) -> None:
    assert bag.import_errors == {}
    assert EXPECTED_DAGS <= set(bag.dags)
    for dag_id in EXPECTED_DAGS:
        dag = bag.get_dag(dag_id)
        assert dag.schedule == "@daily" and dag.catchup is False, dag_id
        assert dag.start_date is not None, dag_id


ML_ALWAYS = {
    "prepare_source": "success", "extract": "success", "archive_raw": "success",
    "features.aggregate": "success", "features.build_matrix": "success",
    "train": "success", "evaluate": "success", "report": "success",
}


@pytest.mark.slow
def test_ml_pipeline_ships_first_then_keeps_the_same_model(
        bag: DagBag, client: Any, tmp_path: Path) -> None:
    production = tmp_path / "production"
    conf = {"base_dir": str(tmp_path / "data"), "production_dir": str(production)}

    first = run(bag, "ml_pipeline", client, tmp_path, "2025-01-06",
                {**conf, "source_failures": 1})
    assert first.state == "success"
    assert states(first) == {**ML_ALWAYS, "ship": "success", "keep_current": "skipped"}
    assert first.tasks["extract"].try_number == 2  # one simulated outage, one retry
    shipped = json.loads((production / "model.json").read_text())
    assert shipped["trained_for"] == "2025-01-06"
    assert 0.8 < shipped["metrics"]["auc"] < 1.0
    assert xcom(tmp_path, first, "evaluate") == "ship"

    second = run(bag, "ml_pipeline", client, tmp_path, "2025-01-07", conf)
    assert second.state == "success"
    assert states(second) == {**ML_ALWAYS, "ship": "skipped", "keep_current": "success"}
    assert second.tasks["extract"].try_number == 1
    assert json.loads((production / "model.json").read_text()) == shipped
    assert xcom(tmp_path, second, "report")["decision"] == "keep_current"
    archives = sorted(p.name for p in (tmp_path / "data" / "archive").iterdir())
    assert archives == ["raw_20250106.tar.gz", "raw_20250107.tar.gz"]


def test_taskflow_basics_hands_values_over_and_reads_params(
        bag: DagBag, client: Any, tmp_path: Path) -> None:
    result = run(bag, "taskflow_basics", client, tmp_path, "2025-01-06")
    assert result.state == "success"
    assert states(result) == {"extract": "success", "transform": "success", "load": "success"}
    assert xcom(tmp_path, result, "load") == "100.5 EUR in total; large orders: 1001, 1003"

    result = run(bag, "taskflow_basics", client, tmp_path, "2025-01-07", {"min_total": 40})
    assert xcom(tmp_path, result, "load") == "100.5 EUR in total; large orders: 1003"


@pytest.mark.parametrize(("logical_date", "expected"), [
    ("2025-01-06", {"weekday_report": "success", "weekend_report": "skipped",
                    "first_of_month": "success", "monthly_summary": "skipped",
                    "notify": "skipped"}),
    ("2025-02-01", {"weekday_report": "skipped", "weekend_report": "success",
                    "first_of_month": "success", "monthly_summary": "success",
                    "notify": "success"}),
])
def test_branching_follows_one_path_and_short_circuits(
        bag: DagBag, client: Any, tmp_path: Path, logical_date: str,
        expected: dict[str, str]) -> None:
    result = run(bag, "branching", client, tmp_path, logical_date)
    assert result.state == "success"
    assert states(result) == {"start": "success", "choose_report": "success",
                              "join": "success", **expected}


def test_trigger_rules_outcome_of_a_failure(bag: DagBag, client: Any, tmp_path: Path) -> None:
    result = run(bag, "trigger_rules", client, tmp_path, "2025-01-06")
    assert result.state == "failed"  # the leaf `publish` is upstream_failed
    assert states(result) == {
        "fetch": "success", "transform": "failed", "load": "upstream_failed",
        "publish": "upstream_failed", "cleanup": "success", "alert_on_failure": "success",
        "fetch_alert": "skipped",
    }
    assert result.tasks["transform"].try_number == 1
    assert "schema changed" in result.tasks["transform"].error


def test_dynamic_mapping_expands_literal_and_upstream_lists(
        bag: DagBag, client: Any, tmp_path: Path) -> None:
    result = run(bag, "dynamic_mapping", client, tmp_path, "2025-01-06")
    assert result.state == "success"
    assert states(result) == {
        "list_partitions": "success", "summarize": "success",
        **{f"count_rows[{i}]": "success" for i in range(3)},
        **{f"weigh_region[{i}]": "success" for i in range(3)},
        **{f"announce[{i}]": "success" for i in range(2)},
    }
    assert xcom(tmp_path, result, "summarize") == {"rows": 384, "weight": 12.0,
                                                   "partitions": 3}


def test_bash_pipeline_templates_and_skips_on_exit_code_99(
        bag: DagBag, client: Any, tmp_path: Path) -> None:
    conf = {"work_dir": str(tmp_path / "work")}
    weekday = run(bag, "bash_pipeline", client, tmp_path, "2025-01-06", conf)
    assert weekday.state == "success"
    assert states(weekday) == {"prepare": "success", "write_numbers": "success",
                               "weekday_only": "success", "publish": "success"}
    day = tmp_path / "work" / "2025-01-06"
    assert (day / "numbers.txt").read_text().split() == ["1", "2", "3", "4", "5"]
    assert (day / "published.txt").read_text() == "published 2025-01-06\n"

    weekend = run(bag, "bash_pipeline", client, tmp_path, "2025-01-04", conf)
    assert weekend.state == "success"
    assert states(weekend) == {"prepare": "success", "write_numbers": "success",
                               "weekday_only": "skipped", "publish": "skipped"}
    assert not (tmp_path / "work" / "2025-01-04" / "published.txt").exists()
