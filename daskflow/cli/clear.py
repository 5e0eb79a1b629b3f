"""``daskflow tasks clear``: make task instances of past runs run again.

Clearing is planned first and done second. :func:`select_tasks` picks task
ids (a regular expression, plus everything upstream or downstream if asked)
and :func:`plan_run` picks, in one run, the instances to clear: every
instance of a chosen task, mapped ones included, or only those that failed.
A mapped task whose expansion source is cleared too is deleted instead of
cleared, so it expands again over the source's new output.

Doing it is one ``Store.clear_task_instances`` call per run, which also puts
the run back in ``queued``: the next loop that claims it resumes it from the
store, running exactly the cleared instances and reusing every success kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.db import can_prompt
from daskflow.cli.errors import CliError
from daskflow.cli.options import parse_date
from daskflow.cli.output import emit_json, output_option, table_lines
from daskflow.models.xcom_arg import find_refs

if TYPE_CHECKING:
    from daskflow.store import DagRunRecord, TaskInstanceRecord

#: The states ``--only-failed`` clears, as in Airflow.
FAILED_STATES = frozenset({"failed", "upstream_failed"})


@dataclass(frozen=True)
class RunClear:
    """What clearing does to one run: instances to clear, mapped tasks to expand again."""

    run: DagRunRecord
    keys: tuple[tuple[str, int], ...]
    re_expand: tuple[str, ...] = ()
    listing: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    @property
    def count(self) -> int:
        return len(self.listing)


def relatives(dag: Any, task_ids: Iterable[str], *, upstream: bool) -> set[str]:
    """Every task upstream (or downstream) of ``task_ids``, transitively, without them."""
    found: set[str] = set()
    todo = list(task_ids)
    while todo:
        task = dag.task_dict[todo.pop()]
        step = task.upstream_task_ids if upstream else task.downstream_task_ids
        for task_id in step - found:
            found.add(task_id)
            todo.append(task_id)
    return found


def select_tasks(dag: Any, regex: str | None, *, upstream: bool, downstream: bool
                 ) -> list[str]:
    """The task ids to clear, in the order they run."""
    try:
        pattern = re.compile(regex) if regex else None
    except re.error as exc:
        raise CliError(f"--task-regex {regex!r} is not a regular expression ({exc})") from None
    chosen = {t for t in dag.task_ids if pattern is None or pattern.search(t)}
    if not chosen:
        raise CliError(f"--task-regex {regex!r} matches no task of DAG {dag.dag_id!r} "
                       f"(tasks: {', '.join(sorted(dag.task_ids))})")
    matched = set(chosen)
    if downstream:
        chosen |= relatives(dag, matched, upstream=False)
    if upstream:
        chosen |= relatives(dag, matched, upstream=True)
    return [t.task_id for t in dag.topological_sort() if t.task_id in chosen]


def plan_run(dag: Any, run: DagRunRecord, instances: Sequence[TaskInstanceRecord],
             task_ids: Sequence[str], only_failed: bool) -> RunClear:
    """The instances of ``task_ids`` to clear in ``run`` (only failed ones if asked)."""
    chosen = set(task_ids)
    picked = [ti for ti in instances if ti.task_id in chosen
              and (not only_failed or ti.state in FAILED_STATES)]
    cleared = {ti.task_id for ti in picked}
    re_expand = sorted(t for t in cleared if _expands_over(dag, t) & cleared)
    keys = tuple((ti.task_id, ti.map_index) for ti in picked
                 if not (ti.task_id in re_expand and ti.map_index >= 0))
    listing = tuple({"dag_id": run.dag_id, "run_id": run.run_id,
                     "logical_date": run.logical_date,
                     "task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state}
                    for ti in picked)
    return RunClear(run, keys, tuple(re_expand), listing)


def _expands_over(dag: Any, task_id: str) -> set[str]:
    """The tasks whose output a mapped task expands over (empty for other tasks)."""
    task = dag.task_dict.get(task_id)
    if task is None or not task.is_mapped or not task.expands_at_runtime():
        return set()
    return {ref.task_id for ref in find_refs(task.expand_input)}


def marker_plans(obj: Any, store: Any, plans: Sequence[RunClear], only_failed: bool,
                 depth: int | None = None) -> list[RunClear]:
    """What clearing ``plans`` clears in other DAGs, through their ``ExternalTaskMarker``s.

    As in Airflow, a cleared marker clears its external task and everything
    downstream of it in the external DAG's run at the marker's logical date,
    and so on through the markers found there, at most ``recursion_depth``
    DAGs away.
    """
    from daskflow.sensors.external_task import ExternalTaskMarker

    found: list[RunClear] = []
    for plan in plans:
        dag = obj.get_dag(plan.run.dag_id)
        for task_id in sorted({key[0] for key in plan.keys}):
            marker = dag.task_dict.get(task_id)
            if not isinstance(marker, ExternalTaskMarker):
                continue
            left = marker.recursion_depth if depth is None else depth
            if left <= 0:
                raise CliError(f"ExternalTaskMarker {task_id!r} of DAG {dag.dag_id!r}: "
                               "clearing goes deeper than its recursion_depth; raise it or "
                               "clear the external DAGs separately")
            external = obj.get_dag(marker.external_dag_id)
            if marker.external_task_id not in external.task_dict:
                raise CliError(f"ExternalTaskMarker {task_id!r} of DAG {dag.dag_id!r} names "
                               f"task {marker.external_task_id!r}, which DAG "
                               f"{external.dag_id!r} does not have")
            day = _marker_date(marker, plan.run)
            runs = [r for r in store.list_dag_runs(dag_id=external.dag_id)
                    if r.logical_date == day]
            wanted = [marker.external_task_id,
                      *relatives(external, [marker.external_task_id], upstream=False)]
            order = [t.task_id for t in external.topological_sort() if t.task_id in wanted]
            more = [p for r in runs if (p := plan_run(
                external, r, store.list_task_instances(external.dag_id, r.run_id), order,
                only_failed)).count]
            found.extend(more)
            found.extend(marker_plans(obj, store, more, only_failed, left - 1))
    return found


def _marker_date(marker: Any, run: DagRunRecord) -> datetime:
    """The marker's ``logical_date`` template, rendered for ``run``."""
    from daskflow.models.templating import environment_for

    context = {"logical_date": run.logical_date, "ds": run.logical_date.strftime("%Y-%m-%d"),
               "ts": run.logical_date.isoformat(), "run_id": run.run_id}
    text = environment_for(marker.dag).from_string(marker.logical_date).render(context)
    try:
        day = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"ExternalTaskMarker {marker.task_id!r}: its logical_date renders to "
                       f"{text!r}, which is not an ISO date") from None
    return day if day.tzinfo else day.replace(tzinfo=run.logical_date.tzinfo)


def runs_between(runs: Sequence[DagRunRecord], start: datetime | None, end: datetime | None
                 ) -> list[DagRunRecord]:
    """The runs whose logical date is in ``[start, end]``, oldest first."""
    inside = [r for r in runs if (start is None or r.logical_date >= start)
              and (end is None or r.logical_date <= end)]
    return sorted(inside, key=lambda r: r.logical_date)


@click.command("clear")
@click.argument("dag_id")
@click.option("--task-regex", "-t", metavar="REGEX", default=None,
              help="Only tasks whose id matches (re.search). [default: all tasks]")
@click.option("--downstream", "-d", is_flag=True, help="Also clear everything downstream.")
@click.option("--upstream", "-u", is_flag=True, help="Also clear everything upstream.")
@click.option("--start-date", "-s", metavar="DATE", callback=lambda c, p, v: parse_date(v),
              help="Only runs with a logical date at or after DATE.")
@click.option("--end-date", "-e", metavar="DATE", callback=lambda c, p, v: parse_date(v),
              help="Only runs with a logical date at or before DATE.")
@click.option("--only-failed", "-f", is_flag=True,
              help="Only instances that failed or whose upstream failed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@dags_folder_option
@db_option
@output_option
@pass_context
def clear(obj: CliContext, dag_id: str, task_regex: str | None, downstream: bool,
          upstream: bool, start_date: datetime | None, end_date: datetime | None,
          only_failed: bool, yes: bool, output: str) -> None:
    """Clear task instances of DAG_ID's runs so that a scheduler runs them again.

    Each run with something cleared goes back to queued; the loop that
    resumes it runs the cleared instances and keeps every other result.
    """
    if start_date and end_date and end_date < start_date:
        raise CliError(f"--end-date {end_date.isoformat()} is before --start-date "
                       f"{start_date.isoformat()}")
    dag = obj.get_dag(dag_id)
    task_ids = select_tasks(dag, task_regex, upstream=upstream, downstream=downstream)
    store = obj.store()
    runs = runs_between(store.list_dag_runs(dag_id=dag_id), start_date, end_date)
    plans = [p for r in runs
             if (p := plan_run(dag, r, store.list_task_instances(dag_id, r.run_id), task_ids,
                               only_failed)).count]
    plans += marker_plans(obj, store, plans, only_failed)
    listing = [row for plan in plans for row in plan.listing]
    if not plans:
        click.echo(f"Nothing to clear in DAG {dag_id} ({counted(len(runs), 'run')} looked at).",
                   err=True)
    else:
        _confirm(dag_id, plans, listing, yes)
    for plan in plans:
        for task_id in plan.re_expand:
            store.delete_mapped_instances(plan.run.dag_id, plan.run.run_id, task_id)
        store.clear_task_instances(plan.run.dag_id, plan.run.run_id, plan.keys)
    if output == "json":
        emit_json(listing)
    elif plans:
        click.echo(f"Cleared {_what(listing, plans)} of DAG {dag_id}; a running "
                   "`daskflow scheduler` runs them again.")


def counted(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``.

    >>> counted(1, "task instance"), counted(3, "run")
    ('1 task instance', '3 runs')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _what(listing: Sequence[Any], plans: Sequence[RunClear]) -> str:
    return f"{counted(len(listing), 'task instance')} in {counted(len(plans), 'run')}"


def _confirm(dag_id: str, plans: Sequence[RunClear], listing: list[dict[str, Any]],
             yes: bool) -> None:
    what = f"{_what(listing, plans)} of DAG {dag_id!r}"
    if yes:
        return
    if not can_prompt():
        raise CliError(f"this would clear {what}; pass --yes to confirm (there is no "
                       "terminal to ask on)")
    several = len({row["dag_id"] for row in listing}) > 1
    columns = ["run_id", "task_id", "map_index", "state"]
    for line in table_lines(listing, ["dag_id", *columns] if several else columns):
        click.echo(line, err=True)
    click.confirm(f"Clear {what}?", abort=True, err=True)
