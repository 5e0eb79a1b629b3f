"""Task-instance and DAG-run states, and which changes between them are allowed.

The names and string values are Airflow's, so that code comparing states
(``ti.state == "upstream_failed"``) reads the same in both. The transition
table is data: the execution layer asks :func:`can_transition` instead of
encoding the rules in ``if`` chains.
"""

from __future__ import annotations

from enum import Enum


class TaskInstanceState(str, Enum):
    """State of one task instance (one task, one run, one map index)."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    #: Waiting on a trigger in the scheduler's process (``BaseOperator.defer``).
    DEFERRED = "deferred"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"

    def __str__(self) -> str:
        return self.value


class DagRunState(str, Enum):
    """State of one DAG run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


TI = TaskInstanceState

#: States after which a task instance will not run again in this run.
FINISHED_STATES = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED})
#: States of a task instance that is waiting, or running, in this run.
UNFINISHED_STATES = frozenset(set(TI) - FINISHED_STATES)
#: States that count as failure for a run's final state.
FAILURE_STATES = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})

_WAITING = {TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE,
            TI.DEFERRED}
_TASK_TRANSITIONS: dict[TaskInstanceState | None, frozenset[TaskInstanceState]] = {
    None: frozenset(TI),
    TI.SCHEDULED: frozenset(TI),
    TI.QUEUED: frozenset(TI),
    TI.RUNNING: frozenset(FINISHED_STATES | _WAITING),
    TI.UP_FOR_RETRY: frozenset(FINISHED_STATES | _WAITING),
    TI.UP_FOR_RESCHEDULE: frozenset(FINISHED_STATES | _WAITING),
    TI.DEFERRED: frozenset(FINISHED_STATES | _WAITING),
    # A finished task instance only moves again when a user clears it.
    **{state: frozenset({TI.SCHEDULED, TI.QUEUED}) for state in FINISHED_STATES},
}


def can_transition(old: TaskInstanceState | None, new: TaskInstanceState) -> bool:
    """Whether a task instance may move from ``old`` to ``new``.

    >>> can_transition(TaskInstanceState.RUNNING, TaskInstanceState.SUCCESS)
    True
    >>> can_transition(TaskInstanceState.SUCCESS, TaskInstanceState.RUNNING)
    False
    """
    return new in _TASK_TRANSITIONS[old]


def run_state_from(leaf_states: list[TaskInstanceState]) -> DagRunState:
    """The final state of a finished run, from the states of its leaf tasks.

    As in Airflow, only leaves count: a run whose middle task failed still
    succeeds when every leaf succeeded or was skipped (a cleanup task with
    ``trigger_rule="all_done"`` at the end absorbs the failure). Documented
    in docs/concepts.md because it surprises people.

    >>> run_state_from([TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED])
    <DagRunState.SUCCESS: 'success'>
    >>> run_state_from([TaskInstanceState.UPSTREAM_FAILED])
    <DagRunState.FAILED: 'failed'>
    """
    if any(state in FAILURE_STATES for state in leaf_states):
        return DagRunState.FAILED
    return DagRunState.SUCCESS
