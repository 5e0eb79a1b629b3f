"""Key names as Dask's dashboard reads them: the prefix it groups by, for narrow and wide DAGs."""

from __future__ import annotations

import pytest
from dask.utils import key_split

from daskflow import DAG
from daskflow.execution.keys import KeyNames, key_names_for, widest_level
from daskflow.operators import EmptyOperator


def _fan(width: int) -> DAG:
    with DAG(f"fan{width}") as dag:
        root, sink = EmptyOperator(task_id="root"), EmptyOperator(task_id="sink")
        for i in range(width):
            root >> EmptyOperator(task_id=f"t{i}") >> sink
    return dag


def _chain(length: int) -> DAG:
    with DAG(f"chain{length}") as dag:
        previous = EmptyOperator(task_id="t0")
        for i in range(1, length):
            current = EmptyOperator(task_id=f"t{i}")
            previous >> current
            previous = current
    return dag


@pytest.mark.parametrize("upstream, width", [
    ({}, 0),
    ({"a": []}, 1),
    ({"a": [], "b": [], "c": []}, 3),
    ({"a": [], "b": ["a"], "c": ["b"]}, 1),
    # depth is the longest way from a root: d waits for c, so it is alone at depth 2
    ({"a": [], "b": ["a"], "c": ["a"], "d": ["a", "c"]}, 2),
    ({"r": [], **{f"m{i}": ["r"] for i in range(5)}, "s": [f"m{i}" for i in range(5)]}, 5),
])
def test_widest_level(upstream, width):
    assert widest_level(upstream) == width


def test_a_long_chain_is_one_task_wide_without_recursion():
    assert widest_level({f"t{i}": ([f"t{i - 1}"] if i else []) for i in range(5000)}) == 1


def test_each_task_of_a_narrow_dag_has_its_own_prefix():
    names = key_names_for(_fan(3), "3fa85f64", max_width=100)
    assert not names.shared_prefix
    assert key_split(names.key("t1")) == "fan3.t1"
    assert key_split(names.key("t1", 7)) == "fan3.t1"
    assert names.key("t1") != names.key("t1", 0)


def test_a_dag_wider_than_the_limit_shares_one_prefix_and_keeps_the_task_id_in_the_key():
    names = key_names_for(_fan(101), "3fa85f64", max_width=100)
    assert names.shared_prefix
    keys = {names.key(f"t{i}") for i in range(101)} | {names.key("root"), names.key("sink")}
    assert {key_split(k) for k in keys} == {"fan101.*"}
    assert len(keys) == 103
    assert names.key("t42").endswith("-t42")
    assert key_split(names.key("t42", 3)) == "fan101.*"


def test_width_not_size_decides():
    assert not key_names_for(_chain(300), "3fa85f64", max_width=100).shared_prefix
    assert not key_names_for(_fan(101), "3fa85f64", max_width=0).shared_prefix


@pytest.mark.parametrize("token", ["abcdefab", "12345678", "0a1b2c3d"])
def test_the_token_never_joins_the_prefix(token):
    assert key_split(KeyNames("etl", token).key("extract")) == "etl.extract"
    assert key_split(KeyNames("etl", token, shared_prefix=True).key("extract")) == "etl.*"
