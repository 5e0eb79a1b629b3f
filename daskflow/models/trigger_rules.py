"""Trigger rules: when a task runs, given how its direct upstream tasks ended.

In daskflow a task's node runs only after every upstream node finished (Dask
hands it their outcomes), so a rule never has to wait: it is one pure
function from the finished upstream states to a decision. The decisions are
Airflow's, including the ones that surprise people:

- ``none_skipped`` runs even when an upstream failed;
- ``one_done`` counts success and failed, not upstream_failed;
- ``one_failed`` counts upstream_failed as failed;
- ``all_done_min_one_success`` (Airflow 3.1) is skipped as soon as any upstream
  was skipped, despite its name;
- a task with no upstream always runs, whatever its rule.

============================  ======================  ============================================
rule                          runs when               otherwise
============================  ======================  ============================================
all_success                   all succeeded           upstream_failed if any failed, else skipped
all_failed                    all failed              skipped
all_done                      always                  -
all_skipped                   all skipped             skipped
one_success                   >= 1 succeeded          skipped if all skipped, else upstream_failed
one_failed                    >= 1 failed             skipped
one_done                      >= 1 success/failed     skipped
none_failed                   none failed             upstream_failed
none_failed_min_one_success   none failed, >= 1 ok    upstream_failed if any failed, else skipped
none_skipped                  none skipped            skipped
all_done_min_one_success      none skipped, >= 1 ok   skipped if any skipped, else upstream_failed
always                        always                  -
============================  ======================  ============================================

("failed" above means failed or upstream_failed unless the rule says otherwise.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import Enum

from daskflow.models.state import TaskInstanceState

TI = TaskInstanceState


class TriggerRule(str, Enum):
    """The rule a task uses to decide whether to run after its upstream tasks."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALWAYS = "always"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def is_valid(cls, value: object) -> bool:
        return value in cls._value2member_map_


def decide(rule: TriggerRule | str, upstream_states: Iterable[TaskInstanceState]) -> TI | None:
    """``None`` when the task should run, else the state it ends in without running.

    >>> decide("all_success", [TaskInstanceState.SUCCESS, TaskInstanceState.FAILED])
    <TaskInstanceState.UPSTREAM_FAILED: 'upstream_failed'>
    >>> decide("all_done", [TaskInstanceState.FAILED]) is None
    True
    """
    states = Counter(TI(state) for state in upstream_states)
    total = sum(states.values())
    if total == 0:
        return None
    success, skipped = states[TI.SUCCESS], states[TI.SKIPPED]
    failed_only = states[TI.FAILED]
    failed = failed_only + states[TI.UPSTREAM_FAILED]
    return _RULES[TriggerRule(rule)](success, skipped, failed, failed_only, total)


def _all_success(success, skipped, failed, failed_only, total):
    if success == total:
        return None
    return TI.UPSTREAM_FAILED if failed else TI.SKIPPED


def _one_success(success, skipped, failed, failed_only, total):
    if success:
        return None
    return TI.SKIPPED if skipped == total else TI.UPSTREAM_FAILED


def _none_failed_min_one_success(success, skipped, failed, failed_only, total):
    if failed:
        return TI.UPSTREAM_FAILED
    return TI.SKIPPED if skipped == total else None


def _all_done_min_one_success(success, skipped, failed, failed_only, total):
    if skipped:
        return TI.SKIPPED
    return None if success else TI.UPSTREAM_FAILED


def _when(condition):
    """A rule that runs when ``condition`` holds and is skipped otherwise."""

    def rule(success, skipped, failed, failed_only, total):
        return None if condition(success, skipped, failed, failed_only, total) else TI.SKIPPED

    return rule


_RULES = {
    TriggerRule.ALL_SUCCESS: _all_success,
    TriggerRule.ALL_FAILED: _when(lambda ok, sk, f, fo, n: f == n),
    TriggerRule.ALL_DONE: lambda *counts: None,
    TriggerRule.ALL_SKIPPED: _when(lambda ok, sk, f, fo, n: sk == n),
    TriggerRule.ONE_SUCCESS: _one_success,
    TriggerRule.ONE_FAILED: _when(lambda ok, sk, f, fo, n: f > 0),
    TriggerRule.ONE_DONE: _when(lambda ok, sk, f, fo, n: ok + fo > 0),
    TriggerRule.NONE_FAILED: lambda ok, sk, f, fo, n: TI.UPSTREAM_FAILED if f else None,
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: _none_failed_min_one_success,
    TriggerRule.NONE_SKIPPED: _when(lambda ok, sk, f, fo, n: sk == 0),
    TriggerRule.ALL_DONE_MIN_ONE_SUCCESS: _all_done_min_one_success,
    TriggerRule.ALWAYS: lambda *counts: None,
}
