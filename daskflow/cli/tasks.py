"""``daskflow tasks``: list a DAG's tasks, run one alone, read a run's states and logs."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from typing import TYPE_CHECKING, Any

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.lazy import LazyGroup
from daskflow.cli.options import conf_option, logical_date_option
from daskflow.cli.output import emit_json, output_option, render
from daskflow.secrets.masking import redact

if TYPE_CHECKING:
    from daskflow.cli.run_task import TaskRunResult
    from daskflow.store import AttemptRecord, DagRunRecord, Store

TASK_FAILED = 1


@click.group("tasks", cls=LazyGroup, lazy_commands={"clear": "daskflow.cli.clear:clear"})
def tasks_group() -> None:
    """List tasks, test one alone, read states and logs of a run, clear them."""


@tasks_group.command("list")
@click.argument("dag_id")
@dags_folder_option
@output_option
@pass_context
def list_tasks(obj: CliContext, dag_id: str, output: str) -> None:
    """List the tasks of DAG_ID in the order they run."""
    tasks = obj.get_dag(dag_id).structure()["tasks"]
    rows = [{"task_id": task_id, "operator": t["operator"]} for task_id, t in tasks.items()]
    render(rows, ["task_id", "operator"], output)


@tasks_group.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@dags_folder_option
@logical_date_option
@conf_option
@click.option("--map-index", type=click.IntRange(min=0), default=None,
              help="Which instance of a mapped task to run. [default: 0]")
@output_option
@pass_context
@click.pass_context
def test(ctx: click.Context, obj: CliContext, dag_id: str, task_id: str, logical_date: Any,
         conf: dict[str, Any], map_index: int | None, output: str) -> None:
    """Run one task here, without its upstream tasks, a cluster or a record in the store.

    For debugging: the task's output goes to the terminal and its return
    value is printed. Values from upstream tasks are None. Exit 1 if it fails.
    """
    from daskflow.cli.run_task import concrete_task, run_info, run_task, upstream_note
    from daskflow.execution.capture import redacting_streams

    dag = obj.get_dag(dag_id)
    task = concrete_task(dag, task_id, conf, map_index)
    note = upstream_note(dag, task_id)
    if note:
        click.echo(note, err=True)
    run = run_info(dag, logical_date, conf)
    quiet_stdout = output == "json"
    with contextlib.redirect_stdout(sys.stderr) if quiet_stdout else contextlib.nullcontext():
        with redacting_streams():
            result = run_task(dag, task, run)
    _show_task_test(result, output)
    if result.state == "failed":
        ctx.exit(TASK_FAILED)


def _show_task_test(result: TaskRunResult, output: str) -> None:
    if output == "json":
        emit_json({"dag_id": result.dag_id, "task_id": result.task_id,
                   "map_index": result.map_index, "state": result.state,
                   "return_value": _jsonable(result.value), "error": result.error})
        return
    if result.state == "failed":
        click.echo(redact(result.error), err=True, nl=False)
    elif result.state == "skipped":
        click.echo(redact(f"Task skipped{': ' + result.error if result.error else ''}"))
    else:
        click.echo(redact(f"Returned value: {result.value!r}"))
    click.echo(f"Task {result.task_id}: {result.state}")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


@tasks_group.command("states")
@click.argument("dag_id")
@click.argument("run_id")
@db_option
@output_option
@pass_context
def states(obj: CliContext, dag_id: str, run_id: str, output: str) -> None:
    """Show the state of every task instance of one run, and why tries failed.

    The error column is the latest try's error; with --output json every
    try is listed with its state, error and the loop that drove it.
    """
    store = obj.store()
    _require_run(store, dag_id, run_id)
    tries: dict[tuple[str, int], list[Any]] = {}
    for attempt in store.list_run_attempts(dag_id, run_id):
        tries.setdefault((attempt.task_id, attempt.map_index), []).append(attempt)
    rows = []
    for ti in store.list_task_instances(dag_id, run_id):
        attempts = tries.get((ti.task_id, ti.map_index), [])
        rows.append({**vars(ti), "error": attempts[-1].error if attempts else None,
                     "tries": [{"try_number": a.try_number, "state": a.state,
                                "error": a.error, "loop_id": a.loop_id} for a in attempts]})
    columns = ["task_id", "map_index", "state", "try_number", "duration", "hostname", "worker"]
    if output == "json":
        columns += ["error", "tries"]
    elif any(row["error"] for row in rows):
        columns.append("error")
    render(rows, columns, output)


#: ``extract`` or, for one instance of a mapped task, ``extract[3]``.
_INSTANCE = re.compile(r"(?P<task_id>.+?)\[(?P<map_index>-?\d+)\]")


def instance_name(task_id: str, map_index: int) -> str:
    """How commands name a task instance, and how ``tasks logs`` accepts it.

    >>> instance_name("load", -1), instance_name("load", 3)
    ('load', 'load[3]')
    """
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def split_instance(name: str, map_index: int | None) -> tuple[str, int]:
    """``("load", 3)`` from ``load[3]``, or from ``load`` and ``--map-index 3``.

    >>> split_instance("load[3]", None), split_instance("load", None)
    (('load', 3), ('load', -1))
    """
    match = _INSTANCE.fullmatch(name)
    if match is None:
        return name, -1 if map_index is None else map_index
    index = int(match["map_index"])
    if map_index is not None and map_index != index:
        raise CliError(f"task instance {name!r} and --map-index {map_index} disagree; "
                       "give the index once")
    return match["task_id"], index


@tasks_group.command("logs")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id", metavar="TASK_ID[INDEX]")
@click.option("--map-index", type=int, default=None,
              help="Instance of a mapped task; or name it as TASK_ID[INDEX]. "
                   "[default: -1, not mapped]")
@click.option("--try", "try_number", type=click.IntRange(min=1), default=None,
              help="Which try. [default: the latest]")
@db_option
@output_option
@pass_context
def logs(obj: CliContext, dag_id: str, run_id: str, task_id: str, map_index: int | None,
         try_number: int | None, output: str) -> None:
    """Print the stored log of one try of a task instance.

    One instance of a mapped task is named like `load[3]` (quoted in a
    shell, where brackets are special) or with --map-index 3.
    """
    task_id, map_index = split_instance(task_id, map_index)
    store = obj.store()
    _require_run(store, dag_id, run_id)
    attempt = _find_attempt(store, dag_id, run_id, task_id, map_index, try_number)
    if attempt is None:
        return
    log = store.get_log(dag_id, run_id, task_id, map_index, attempt.try_number) or ""
    if output == "json":
        emit_json({"dag_id": dag_id, "run_id": run_id, "task_id": task_id,
                   "map_index": map_index, "try_number": attempt.try_number,
                   "state": attempt.state, "log": log})
        return
    click.echo(f"*** {instance_name(task_id, map_index)} try {attempt.try_number}: "
               f"{attempt.state} "
               f"on {attempt.worker or attempt.hostname or '?'}", err=True)
    log = redact(log)
    click.echo(log, nl=not log.endswith("\n") and bool(log))


def _require_run(store: Store, dag_id: str, run_id: str) -> DagRunRecord:
    run = store.get_dag_run(dag_id, run_id)
    if run is not None:
        return run
    recent = [r.run_id for r in store.list_dag_runs(dag_id=dag_id, limit=5)]
    known = f"recent runs: {', '.join(recent)}" if recent else "it has no runs in this store"
    raise CliError(f"DAG {dag_id!r} has no run {run_id!r} ({known}); "
                   f"list runs with `daskflow runs list --dag-id {dag_id}`")


def _find_attempt(store: Store, dag_id: str, run_id: str, task_id: str, map_index: int,
                  try_number: int | None) -> AttemptRecord | None:
    """The requested (or latest) try; ``None`` after a note if the task never ran."""
    instance = store.get_task_instance(dag_id, run_id, task_id, map_index)
    if instance is None:
        instances = store.list_task_instances(dag_id, run_id)
        tasks = sorted({(ti.task_id, ti.map_index) for ti in instances})
        names = ", ".join(instance_name(t, i) for t, i in tasks) or "none"
        where = instance_name(task_id, map_index)
        # Failed instances first: the one a user most likely wants to read.
        mapped = sorted((ti.state != "failed", ti.map_index) for ti in instances
                        if ti.task_id == task_id and ti.map_index >= 0)
        if map_index < 0 and mapped:
            example = instance_name(task_id, mapped[0][1])
            raise CliError(f"task {task_id} of run {run_id!r} is mapped: name one of its "
                           f"{len(mapped)} instances, e.g. {example!r} "
                           f"(task instances: {names})")
        raise CliError(f"run {run_id!r} of DAG {dag_id!r} has no task instance {where} "
                       f"(task instances: {names})")
    attempts = store.list_attempts(dag_id, run_id, task_id, map_index)
    if not attempts:
        click.echo(f"Task {instance_name(task_id, map_index)} never ran in this run "
                   f"(state: {instance.state}); it has no log.", err=True)
        return None
    if try_number is None:
        return attempts[-1]
    for attempt in attempts:
        if attempt.try_number == try_number:
            return attempt
    tries = ", ".join(str(a.try_number) for a in attempts)
    raise CliError(f"task {instance_name(task_id, map_index)} of run {run_id!r} has no try "
                   f"{try_number} (tries recorded: {tries})")
