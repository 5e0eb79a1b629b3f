"""The node's run-or-skip decision, from upstream outcomes alone (no cluster).

Branches and short-circuits decide before the trigger rule; these tests build
the :class:`Outcome` objects Dask would hand a node and ask ``_skip_or_trigger``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from daskflow import DAG, TaskGroup
from daskflow.execution.node import (
    Attempt,
    NodeSpec,
    _branch_ids,
    _fill_success,
    _skip_or_trigger,
)
from daskflow.execution.outcome import Outcome
from daskflow.models.context import DagRunInfo
from daskflow.models.state import TaskInstanceState as TI
from daskflow.operators import EmptyOperator, ShortCircuitOperator

DAY = datetime(2024, 1, 1, tzinfo=timezone.utc)
RUN = DagRunInfo(dag_id="decisions", run_id="r", logical_date=DAY, data_interval_start=DAY,
                 data_interval_end=DAY)


def spec_for(task_id: str = "t", trigger_rule: str = "all_success", group: str | None = None,
             upstream: tuple[str, ...] = ("up",)) -> NodeSpec:
    with DAG(f"decisions_{task_id.replace('.', '_')}_{trigger_rule}"):
        if group:
            with TaskGroup(group):
                task = EmptyOperator(task_id=task_id, trigger_rule=trigger_rule)
        else:
            task = EmptyOperator(task_id=task_id, trigger_rule=trigger_rule)
    return NodeSpec(task=task, run=RUN, topic="t", upstream_ids=upstream)


def out(task_id: str = "up", state: TI = TI.SUCCESS, **flags) -> Outcome:
    return Outcome(task_id=task_id, map_index=-1, state=state, **flags)


# -- branches -----------------------------------------------------------------------
@pytest.mark.parametrize(("task_id", "group", "followed", "decision"), [
    ("t", None, {"t"}, None),
    ("t", None, {"t", "other"}, None),
    ("t", None, {"other"}, (TI.SKIPPED, False)),
    ("t", None, set(), (TI.SKIPPED, False)),
    ("t", "grp", {"grp"}, None),                    # branch to a task group id
    ("t", "grp", {"grp.t"}, None),
    ("t", "grp", {"grp.other"}, (TI.SKIPPED, False)),
    ("grpx", None, {"grp"}, (TI.SKIPPED, False)),   # a prefix that is not a group
])
def test_branch_outcome(task_id, group, followed, decision):
    spec = spec_for(task_id, group=group)
    branch = out("up", followed=frozenset(followed))
    assert _skip_or_trigger(spec, {"up": branch}) == decision


def test_a_not_followed_task_is_skipped_whatever_its_rule():
    spec = spec_for(trigger_rule="all_done")
    assert _skip_or_trigger(spec, {"up": out(followed=frozenset({"x"}))}) == (TI.SKIPPED, False)


def test_followed_task_still_obeys_its_rule_for_other_upstreams():
    spec = spec_for(upstream=("branch", "other"))
    outcomes = {"branch": out("branch", followed=frozenset({"t"})),
                "other": out("other", TI.FAILED)}
    assert _skip_or_trigger(spec, outcomes) == (TI.UPSTREAM_FAILED, False)


def test_a_skipped_branch_task_leaves_the_decision_to_the_rule():
    spec = spec_for(trigger_rule="none_failed")
    assert _skip_or_trigger(spec, {"up": out(state=TI.SKIPPED)}) is None


# -- short-circuit ------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["all_success", "all_done", "always", "none_failed"])
def test_short_circuit_ignoring_rules_skips_every_descendant(rule):
    spec = spec_for(trigger_rule=rule)
    gate = out("up", skip_descendants=True)
    assert _skip_or_trigger(spec, {"up": gate}) == (TI.SKIPPED, True)
    # what this node returns carries the flag on, so its own downstream is skipped too
    skipped_child = out("up", TI.SKIPPED, skip_descendants=True)
    assert _skip_or_trigger(spec, {"up": skipped_child}) == (TI.SKIPPED, True)


def test_short_circuit_with_rules_respected_skips_direct_downstream_only():
    direct = spec_for(trigger_rule="all_done")
    assert _skip_or_trigger(direct, {"up": out(skip_direct=True)}) == (TI.SKIPPED, False)
    # one step further the skipped task is an ordinary skipped upstream
    for rule, decision in [("all_success", (TI.SKIPPED, False)), ("none_failed", None),
                           ("all_done", None), ("none_skipped", (TI.SKIPPED, False))]:
        further = spec_for(trigger_rule=rule)
        assert _skip_or_trigger(further, {"up": out(state=TI.SKIPPED)}) == decision


@pytest.mark.parametrize(("ignore", "flags"), [(True, (True, False)), (False, (False, True))])
def test_falsy_short_circuit_result_sets_the_matching_flag(ignore, flags):
    with DAG(f"decisions_gate_{ignore}"):
        gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: None,
                                    ignore_downstream_trigger_rules=ignore)
    falsy = Outcome(task_id="gate", map_index=-1, state=TI.SUCCESS)
    _fill_success(falsy, gate, Attempt(value=[]))
    assert (falsy.skip_descendants, falsy.skip_direct) == flags
    truthy = Outcome(task_id="gate", map_index=-1, state=TI.SUCCESS)
    _fill_success(truthy, gate, Attempt(value=[1]))
    assert (truthy.skip_descendants, truthy.skip_direct) == (False, False)
    assert truthy.value == [1]


# -- trigger rules through the node --------------------------------------------------
def test_rule_decides_when_no_branch_or_short_circuit():
    spec = spec_for(upstream=("a", "b"))
    assert _skip_or_trigger(spec, {"a": out("a"), "b": out("b")}) is None
    failed = {"a": out("a"), "b": out("b", TI.FAILED)}
    assert _skip_or_trigger(spec, failed) == (TI.UPSTREAM_FAILED, False)


def test_mapped_upstream_outcomes_count_one_by_one():
    spec = spec_for(trigger_rule="one_failed")
    instances = [out("up", TI.SUCCESS), out("up", TI.FAILED)]
    assert _skip_or_trigger(spec, {"up": instances}) is None
    spec_all = spec_for(trigger_rule="all_success")
    assert _skip_or_trigger(spec_all, {"up": instances}) == (TI.UPSTREAM_FAILED, False)


def test_no_upstream_runs():
    assert _skip_or_trigger(spec_for(upstream=()), {}) is None


# -- branch return values -------------------------------------------------------------
def test_branch_ids_accept_direct_downstream_and_group_ids():
    with DAG("decisions_branch_ids"):
        branch = EmptyOperator(task_id="branch")
        with TaskGroup("grp") as grp:
            EmptyOperator(task_id="inner")
        plain = EmptyOperator(task_id="plain")
        far = EmptyOperator(task_id="far")
        branch >> [grp, plain]
        plain >> far
    assert _branch_ids(branch, "plain") == frozenset({"plain"})
    assert _branch_ids(branch, ["grp", "plain"]) == frozenset({"grp", "plain"})
    assert _branch_ids(branch, None) == frozenset()
    with pytest.raises(ValueError, match="'far'"):
        _branch_ids(branch, "far")
