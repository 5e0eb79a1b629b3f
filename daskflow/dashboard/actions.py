"""What the dashboard may change in the store, and when it is allowed to.

The pages are read-only unless ``daskflow.dashboard.actions`` is true AND a
token is configured (``daskflow.dashboard.token`` or
``DASKFLOW_DASHBOARD_TOKEN``); then each action must carry that token,
compared in constant time. Enabling actions without a token refuses every
action, so a dashboard is never open to whoever can reach its port.

The actions do what the CLI does: trigger queues a run for a loop to start
(the DAG is read from its recorded file in a parse process, never in the
scheduler's process), pause/unpause sets the flag, clear makes a task
instance run again (its run goes back to queued for a loop to resume), and
mark sets a task instance's state, for finished runs only, so it never
races the loop that drives an active run.
"""

from __future__ import annotations

import hmac
import os
from datetime import datetime, timezone

from daskflow import config
from daskflow.exceptions import DaskflowError
from daskflow.store.records import TaskUpdate
from daskflow.store.store import Store

TOKEN_ENV = "DASKFLOW_DASHBOARD_TOKEN"
MARKABLE = ("success", "failed")
ACTIVE_RUN_STATES = ("queued", "running")


class ActionRefused(DaskflowError):
    """The dashboard may not do this: actions are off, no token is set, or it is wrong."""


def configured_token() -> str | None:
    """The token actions need, or ``None`` when none is configured."""
    value = os.environ.get(TOKEN_ENV) or config.get("dashboard.token")
    return str(value) if value else None


def actions_enabled() -> bool:
    """Whether the pages show actions at all (still each needs the token)."""
    return bool(config.get("dashboard.actions", False))


def authorize(token: str | None) -> None:
    """Raise :class:`ActionRefused` unless actions are on and ``token`` is the configured one."""
    if not actions_enabled():
        raise ActionRefused("dashboard actions are off; set daskflow.dashboard.actions: true "
                            "and a daskflow.dashboard.token to enable them")
    expected = configured_token()
    if expected is None:
        raise ActionRefused("dashboard actions need a token: set daskflow.dashboard.token "
                            f"(or {TOKEN_ENV}) where the Dask scheduler runs")
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ActionRefused("wrong token")


def set_paused(store: Store, dag_id: str, paused: bool) -> str:
    store.set_paused(dag_id, paused)
    return f"DAG {dag_id} {'paused' if paused else 'unpaused'}"


def trigger(store: Store, dag_id: str, now: datetime | None = None) -> str:
    """Queue a manual run of ``dag_id`` now, as ``daskflow dags trigger`` does."""
    from daskflow.scheduler.dagbag import load_recorded_dag

    dag = load_recorded_dag(store, dag_id)
    logical = now or datetime.now(timezone.utc)
    interval = dag.timetable.infer_manual_data_interval(logical)
    run = store.create_dag_run(dag_id, f"manual__{logical.isoformat()}", logical,
                               interval.start, interval.end, "manual", {}, state="queued",
                               external_trigger=True)
    return f"queued run {run.run_id} of DAG {dag_id}; a running scheduler starts it"


def clear(store: Store, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """Make one task instance run again; its run is queued for a loop to resume."""
    cleared = store.clear_task_instances(dag_id, run_id, [(task_id, map_index)])
    return f"cleared {cleared} task instance(s); run {run_id} is queued again"


def mark(store: Store, dag_id: str, run_id: str, task_id: str, map_index: int,
         state: str) -> str:
    """Set a task instance of a finished run to ``success`` or ``failed``."""
    if state not in MARKABLE:
        raise ActionRefused(f"can only mark {' or '.join(MARKABLE)}, not {state!r}")
    run = store.get_dag_run(dag_id, run_id)
    if run is None:
        raise ActionRefused(f"DAG {dag_id!r} has no run {run_id!r}")
    if run.state in ACTIVE_RUN_STATES:
        raise ActionRefused(f"run {run_id} is {run.state}: its loop decides its task states; "
                            "mark it once the run has finished")
    store.apply_updates([TaskUpdate(dag_id, run_id, task_id, map_index, state=state)])
    return f"marked {task_id}{'' if map_index < 0 else f'[{map_index}]'} {state}"
