"""Task-instance transitions and the final state of a run (leaf-based, as in Airflow)."""

from __future__ import annotations

import pytest

from daskflow import DagRunState, TaskInstanceState
from daskflow.models.state import (
    FAILURE_STATES,
    FINISHED_STATES,
    UNFINISHED_STATES,
    can_transition,
    run_state_from,
)

TI = TaskInstanceState

TRANSITIONS = [
    # (old, new, allowed)
    (None, TI.SCHEDULED, True),
    (None, TI.SKIPPED, True),
    (None, TI.SUCCESS, True),
    (TI.SCHEDULED, TI.QUEUED, True),
    (TI.QUEUED, TI.RUNNING, True),
    (TI.RUNNING, TI.SUCCESS, True),
    (TI.RUNNING, TI.FAILED, True),
    (TI.RUNNING, TI.UP_FOR_RETRY, True),
    (TI.RUNNING, TI.UP_FOR_RESCHEDULE, True),
    (TI.RUNNING, TI.SKIPPED, True),
    (TI.UP_FOR_RETRY, TI.RUNNING, True),
    (TI.UP_FOR_RETRY, TI.FAILED, True),
    (TI.UP_FOR_RESCHEDULE, TI.RUNNING, True),
    (TI.SCHEDULED, TI.UPSTREAM_FAILED, True),
    # a finished instance only moves again when it is cleared
    (TI.SUCCESS, TI.RUNNING, False),
    (TI.SUCCESS, TI.FAILED, False),
    (TI.FAILED, TI.SUCCESS, False),
    (TI.SKIPPED, TI.RUNNING, False),
    (TI.UPSTREAM_FAILED, TI.SUCCESS, False),
    (TI.REMOVED, TI.RUNNING, False),
    (TI.SUCCESS, TI.SCHEDULED, True),
    (TI.FAILED, TI.QUEUED, True),
    (TI.UPSTREAM_FAILED, TI.SCHEDULED, True),
]


@pytest.mark.parametrize(("old", "new", "allowed"), TRANSITIONS,
                         ids=[f"{o}->{n}" for o, n, _ in TRANSITIONS])
def test_transition(old, new, allowed):
    assert can_transition(old, new) is allowed


def test_every_state_has_a_row_in_the_table():
    for old in [None, *TI]:
        assert any(can_transition(old, new) for new in TI)


def test_finished_and_unfinished_partition_the_states():
    assert FINISHED_STATES | UNFINISHED_STATES == set(TI)
    assert not FINISHED_STATES & UNFINISHED_STATES
    assert {TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.RUNNING} <= UNFINISHED_STATES
    assert FAILURE_STATES == {TI.FAILED, TI.UPSTREAM_FAILED}


def test_state_values_are_airflows():
    assert {s.value for s in TI} >= {
        "scheduled", "queued", "running", "success", "failed", "up_for_retry",
        "up_for_reschedule", "upstream_failed", "skipped", "removed"}
    assert {s.value for s in DagRunState} == {"queued", "running", "success", "failed"}
    assert TI.UPSTREAM_FAILED == "upstream_failed" and str(TI.SKIPPED) == "skipped"


#: Only leaves count: extract (failed) >> cleanup (all_done, success) is a successful run.
RUN_STATES = [
    ([TI.SUCCESS], DagRunState.SUCCESS),
    ([TI.SUCCESS, TI.SKIPPED], DagRunState.SUCCESS),
    ([TI.SKIPPED, TI.SKIPPED], DagRunState.SUCCESS),
    ([TI.FAILED], DagRunState.FAILED),
    ([TI.UPSTREAM_FAILED], DagRunState.FAILED),
    ([TI.SUCCESS, TI.FAILED], DagRunState.FAILED),
    ([TI.SKIPPED, TI.UPSTREAM_FAILED], DagRunState.FAILED),
    ([TI.REMOVED, TI.SUCCESS], DagRunState.SUCCESS),
    ([], DagRunState.SUCCESS),
]


@pytest.mark.parametrize(("leaves", "expected"), RUN_STATES,
                         ids=["+".join(map(str, leaves)) or "none" for leaves, _ in RUN_STATES])
def test_run_state_from_leaves(leaves, expected):
    assert run_state_from(leaves) is expected

