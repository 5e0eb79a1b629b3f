"""Every trigger rule over a table of finished upstream states, as Airflow decides them.

The expected decisions were written from Airflow's trigger-rule dependency
(``airflow/ti_deps/deps/trigger_rule_dep.py``, 2.x and 3.x), not from
daskflow's implementation: once every upstream task has finished, a rule
either lets the task run or ends it as ``skipped`` / ``upstream_failed``.
"""

from __future__ import annotations

import itertools

import pytest

from daskflow import DAG, TriggerRule
from daskflow.exceptions import DagDefinitionError
from daskflow.models.state import TaskInstanceState as TI
from daskflow.models.trigger_rules import decide
from daskflow.operators import EmptyOperator

STATE = {"S": TI.SUCCESS, "F": TI.FAILED, "U": TI.UPSTREAM_FAILED, "K": TI.SKIPPED}
#: Upstream combinations: S success, F failed, U upstream_failed, K skipped.
COMBOS = ["S", "SS", "F", "U", "K", "KK", "SF", "SU", "SK", "FK", "UK", "FU", "SFK"]
#: One decision per combination above: "r" runs, "s" skipped, "u" upstream_failed.
EXPECTED = {
    #                                      S SS F U K KK SF SU SK FK UK FU SFK
    TriggerRule.ALL_SUCCESS:                "r r u u s s  u  u  s  u  u  u  u",
    TriggerRule.ALL_FAILED:                 "s s r r s s  s  s  s  s  s  r  s",
    TriggerRule.ALL_DONE:                   "r r r r r r  r  r  r  r  r  r  r",
    TriggerRule.ALL_SKIPPED:                "s s s s r r  s  s  s  s  s  s  s",
    TriggerRule.ONE_SUCCESS:                "r r u u s s  r  r  r  u  u  u  r",
    TriggerRule.ONE_FAILED:                 "s s r r s s  r  r  s  r  r  r  r",
    TriggerRule.ONE_DONE:                   "r r r s s s  r  r  r  r  s  r  r",
    TriggerRule.NONE_FAILED:                "r r u u r r  u  u  r  u  u  u  u",
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: "r r u u s s  u  u  r  u  u  u  u",
    TriggerRule.NONE_SKIPPED:               "r r r r s s  r  r  s  s  s  r  s",
    TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:   "r r u u s s  r  r  s  s  s  u  s",
    TriggerRule.ALWAYS:                     "r r r r r r  r  r  r  r  r  r  r",
}
DECISION = {"r": None, "s": TI.SKIPPED, "u": TI.UPSTREAM_FAILED}

CASES = [
    pytest.param(rule, combo, DECISION[code], id=f"{rule.value}-{combo}")
    for rule, row in EXPECTED.items()
    for combo, code in zip(COMBOS, row.split(), strict=True)
]


def test_the_table_covers_every_rule():
    assert set(EXPECTED) == set(TriggerRule)


@pytest.mark.parametrize(("rule", "combo", "expected"), CASES)
def test_decision(rule, combo, expected):
    assert decide(rule, [STATE[c] for c in combo]) is expected


@pytest.mark.parametrize(("rule", "combo", "expected"), CASES)
def test_decision_does_not_depend_on_upstream_order(rule, combo, expected):
    for order in itertools.permutations(combo):
        assert decide(rule, [STATE[c] for c in order]) is expected


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_task_without_upstream_always_runs(rule):
    assert decide(rule, []) is None


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_rule_given_as_its_string_decides_the_same(rule):
    states = [TI.SUCCESS, TI.SKIPPED]
    assert decide(rule.value, states) is decide(rule, states)


def test_states_given_as_strings_are_accepted():
    assert decide("all_success", ["success", "failed"]) is TI.UPSTREAM_FAILED


def test_surprises_we_keep_from_airflow():
    # none_skipped runs after a failure; one_done ignores upstream_failed;
    # one_failed counts upstream_failed; all_success prefers upstream_failed to skipped.
    assert decide("none_skipped", [TI.FAILED]) is None
    assert decide("one_done", [TI.UPSTREAM_FAILED, TI.SKIPPED]) is TI.SKIPPED
    assert decide("one_failed", [TI.UPSTREAM_FAILED]) is None
    assert decide("all_success", [TI.SKIPPED, TI.FAILED]) is TI.UPSTREAM_FAILED


def test_unknown_rule_is_refused_by_decide():
    with pytest.raises(ValueError):
        decide("sometimes", [TI.SUCCESS])


def test_trigger_rule_values_are_airflows():
    assert {r.value for r in TriggerRule} == {
        "all_success", "all_failed", "all_done", "all_skipped", "one_success", "one_failed",
        "one_done", "none_failed", "none_failed_min_one_success", "none_skipped",
        "all_done_min_one_success", "always",
    }
    assert str(TriggerRule.ONE_DONE) == "one_done"
    assert TriggerRule.is_valid("none_skipped") and not TriggerRule.is_valid("dummy")


def test_operator_default_rule_is_all_success_and_strings_become_enums():
    with DAG("tr_default") as dag:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b", trigger_rule="one_failed")
        c = EmptyOperator(task_id="c", trigger_rule=TriggerRule.ALWAYS)
    assert a.trigger_rule is TriggerRule.ALL_SUCCESS
    assert b.trigger_rule is TriggerRule.ONE_FAILED
    assert c.trigger_rule is TriggerRule.ALWAYS
    assert dag.structure()["tasks"]["b"]["trigger_rule"] == "one_failed"


def test_unknown_rule_on_an_operator_names_dag_task_and_choices():
    with pytest.raises(DagDefinitionError) as err, DAG("tr_bad"):
        EmptyOperator(task_id="t", trigger_rule="dummy")
    message = str(err.value)
    assert "'tr_bad'" in message and "'t'" in message and "'dummy'" in message
    assert "none_failed_min_one_success" in message
