"""The DAG structure names each task's task groups, which the dashboard's graph draws."""

from __future__ import annotations

from daskflow import DAG, TaskGroup
from daskflow.operators import EmptyOperator


def _dag(grouped: bool) -> DAG:
    with DAG("shape") as dag:
        first = EmptyOperator(task_id="first")
        if grouped:
            with TaskGroup("outer") as outer:
                with TaskGroup("inner"):
                    EmptyOperator(task_id="deep")
                EmptyOperator(task_id="shallow")
            first >> outer
        else:
            first >> EmptyOperator(task_id="second")
    return dag


def test_tasks_in_groups_list_their_groups_outermost_first():
    tasks = _dag(grouped=True).structure()["tasks"]

    assert tasks["outer.inner.deep"]["groups"] == ["outer", "outer.inner"]
    assert tasks["outer.shallow"]["groups"] == ["outer"]
    assert "groups" not in tasks["first"]


def test_a_dag_without_groups_has_no_group_entries():
    assert all("groups" not in t for t in _dag(grouped=False).structure()["tasks"].values())
