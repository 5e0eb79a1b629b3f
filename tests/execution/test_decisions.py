"""The rules of one run, without a cluster: events in, instructions out.

Each case is a small DAG, the events that happen to one of its runs, and the
instructions the rules must answer the last event with, written compactly
(``_summary``). The statuses of the keys' futures, which the shell keeps
live, are set by hand where a case needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from daskflow import DAG, task
from daskflow.execution import decisions as rules
from daskflow.execution.decisions import KeyErred, RunDecisions, StoredInstance
from daskflow.execution.keys import task_key
from daskflow.execution.report import Report
from daskflow.operators import EmptyOperator

TOKEN = "T"
NOW = 1_000.0


def key(task_id: str, map_index: int = -1) -> str:
    return task_key("d", task_id, TOKEN, map_index)


def chain(retries: int = 0, delay: float = 10.0) -> DAG:
    """a >> b >> c, each with ``retries`` retries ``delay`` seconds apart."""
    with DAG("d", schedule=None) as dag:
        a, b, c = (EmptyOperator(task_id=n, retries=retries,
                                 retry_delay=timedelta(seconds=delay)) for n in "abc")
        a >> b >> c
    return dag


def fork() -> DAG:
    """a >> [b, c]: two branches below one task."""
    with DAG("d", schedule=None) as dag:
        a, b, c = (EmptyOperator(task_id=n) for n in "abc")
        a >> [b, c]
    return dag


def mapped() -> DAG:
    """make >> double.expand(x=make) >> total."""
    with DAG("d", schedule=None) as dag:
        @task
        def make() -> list[int]:
            return [1, 2, 3]

        @task
        def double(x: int) -> int:
            return 2 * x

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(double.expand(x=make()))
    return dag


def report(task_id: str, state: str, *, kind: str = "end", try_number: int = 1,
           map_index: int = -1, lens: dict | None = None, result: str | None = None,
           key_: str | None = "same", reschedule_at: float | None = None,
           deferral: dict | None = None) -> Report:
    failed = state not in ("success", "up_for_reschedule", "deferred")
    return Report(kind=kind, dag_id="d", run_id="r", task_id=task_id, map_index=map_index,
                  state=state, try_number=try_number,
                  key=key(task_id, map_index) if key_ == "same" else key_,
                  start=NOW - 1, end=None if kind == "start" else NOW, lens=lens,
                  result=result, error="ValueError: boom" if failed else None,
                  reschedule_at=reschedule_at, pokes=1 if reschedule_at else 0,
                  deferral=deferral)


#: What a node reports for a task that deferred to a trigger (times out at NOW + 60).
DEFERRAL = {"trigger": "daskflow.triggers.file.FileTrigger",
            "trigger_kwargs": {"filepath": "/x"}, "method": "execute_complete",
            "kwargs": {"n": 1}, "timeout_at": NOW + 60}


def _summary(instructions: list[rules.Instruction]) -> list[tuple]:
    """Instructions as short tuples, so that a case reads as a table row."""
    out: list[tuple] = []
    for i in instructions:
        if isinstance(i, rules.SubmitNodes):
            out.append(("submit", tuple(_node_name(n) for n in i.nodes)))
        elif isinstance(i, rules.RunAgain):
            row = ("again", i.keys, i.tries, tuple(sorted(i.forced)),
                   tuple(sorted(i.forget_done)))
            out.append(row + ((i.pokes,) if i.pokes else ())
                       + (({k: (r["method"], r["kwargs"]) for k, r in i.resume.items()},)
                          if i.resume else ()))
        elif isinstance(i, rules.StartTrigger):
            out.append(("trigger", i.key, i.deferral["trigger"].rsplit(".", 1)[-1]))
        elif isinstance(i, rules.StopTriggers):
            out.append(("untrigger", i.keys))
        elif isinstance(i, rules.RecordReport):
            out.append(("record", i.report.task_id, i.report.state))
        elif isinstance(i, rules.RecordTask):
            changes = {k: v for k, v in i.changes.items() if k in ("state", "next_try_at")}
            if "deferral" in i.changes:
                changes["deferral"] = i.changes["deferral"]["method"]
            out.append(("task", i.task_id, changes))
        elif isinstance(i, rules.TaskEnded):
            out.append(("ended", i.task_id, i.report.state))
        elif isinstance(i, rules.MarkDone):
            out.append(("done", i.key, i.result_ref))
        elif isinstance(i, rules.FailStuck):
            out.append(("fail-stuck", tuple(sorted(i.reasons))))
        elif isinstance(i, rules.RecoverReports):
            out.append(("recover", i.keys))
        elif isinstance(i, rules.ResubmitRun):
            out.append(("resubmit", i.keys))
        elif isinstance(i, rules.CancelKeys):
            out.append(("cancel",))
        elif isinstance(i, rules.Warn):
            out.append(("warn",))
    return out


def _node_name(node: rules.PlannedNode) -> str:
    name = node.task_id if node.map_index < 0 else f"{node.task_id}[{node.map_index}]"
    if node.replay is not None:
        return f"{name}:replay"
    if node.unexpandable:
        return f"{name}:unexpandable"
    if node.not_before == rules.NEVER:
        return f"{name}:try={node.first_try},until-triggered"
    if node.pokes is not None:
        return (f"{name}:try={node.first_try},first-poke={node.pokes[0]:g},"
                f"not-before={node.not_before:g}")
    if node.not_before is not None:
        return f"{name}:not-before={node.not_before:g}"
    if node.first_try != 1:
        return f"{name}:try={node.first_try}"
    return name


@dataclass
class Case:
    name: str
    dag: Any
    #: Events before the one whose answer is checked (answers not checked).
    before: list[tuple] = field(default_factory=list)
    #: The event whose answer is checked.
    event: tuple = ()
    expected: list[tuple] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    stored: dict[tuple[str, int], StoredInstance] | None = None
    needed: set[str] | None = None


def _apply(rules_: RunDecisions, event: tuple) -> list[rules.Instruction]:
    kind, *args = event
    if kind == "start":
        return rules_.start()
    if kind == "report":
        return rules_.task_reported(args[0], NOW if len(args) < 2 else args[1])
    if kind == "erred":
        return rules_.key_erred(args[0], NOW if len(args) < 2 else args[1])
    if kind == "time":
        return rules_.time_passed(args[0])
    if kind == "lease":
        return rules_.lease_renewed()
    if kind == "stalled":
        return rules_.keys_stalled(args[0], 300)
    if kind == "stop":
        return rules_.stop("dagrun_timeout")
    if kind == "mark-failed":
        return rules_.stop("marked failed", rules.TI.FAILED)
    if kind == "hold":
        return rules_.holds_changed(args[0])
    if kind == "fired":
        return rules_.trigger_fired(key(args[0]), args[1], args[2], NOW + 1)
    raise AssertionError(kind)


def crash(task_id: str, error: str = "KilledWorker: the worker running the task died: "
          "memory", *, kind: str = rules.CRASHED, killed: str | None = "self") -> tuple:
    killed_key = key(task_id) if killed == "self" else killed
    return ("erred", KeyErred(key(task_id), kind, error, killed_key=killed_key))


CASES = [
    Case("a run starts with every task whose upstream keys are known", chain(),
         event=("start",),
         expected=[("task", "a", {"state": "queued"}), ("task", "b", {"state": "queued"}),
                   ("task", "c", {"state": "queued"}), ("submit", ("a", "b", "c"))]),
    Case("a start report shows the task running, nothing more", chain(),
         before=[("start",)], event=("report", report("a", "running", kind="start")),
         expected=[("record", "a", "running")]),
    Case("a success is recorded, marked done on the cluster, and ends the attempt", chain(),
         before=[("start",)], event=("report", report("a", "success", result="ref-a")),
         expected=[("record", "a", "success"), ("done", key("a"), "ref-a"),
                   ("ended", "a", "success")]),
    Case("a report of an earlier submission of the run is ignored", chain(),
         before=[("start",)], event=("report", report("a", "success", key_="d.a-OLD")),
         expected=[]),
    Case("a failure with retries left waits out the delay on a stored timer", chain(retries=2),
         before=[("start",)], event=("report", report("a", "up_for_retry")),
         expected=[("record", "a", "up_for_retry"), ("ended", "a", "up_for_retry"),
                   ("task", "a", {"next_try_at": NOW + 10})]),
    Case("a timer not yet due does nothing", chain(retries=2),
         before=[("start",), ("report", report("a", "up_for_retry"))],
         event=("time", NOW + 9.9), expected=[]),
    Case("a due timer queues the task and re-runs it with the next try number",
         chain(retries=2),
         before=[("start",), ("report", report("a", "up_for_retry"))],
         event=("time", NOW + 10),
         expected=[("task", "a", {"state": "queued"}), ("again", (key("a"),), {key("a"): 2},
                                                        (), ())]),
    Case("a due retry waits until Dask has the key erred (the report comes first)",
         chain(retries=2),
         before=[("start",), ("report", report("a", "up_for_retry"))],
         statuses={key("a"): "pending"}, event=("time", NOW + 10), expected=[]),
    Case("a due retry whose key never errs in Dask is re-run after ERRED_WAIT",
         chain(retries=2),
         before=[("start",), ("report", report("a", "up_for_retry"))],
         statuses={key("a"): "pending"}, event=("time", NOW + 10 + rules.ERRED_WAIT),
         expected=[("task", "a", {"state": "queued"}),
                   ("again", (key("a"),), {key("a"): 2}, (), ())]),
    Case("a retry also re-runs the erred keys only the retried key held back",
         chain(retries=1),
         before=[("start",), ("report", report("a", "up_for_retry"))],
         statuses={key("a"): "error", key("b"): "error", key("c"): "error"},
         event=("time", NOW + 10),
         expected=[("task", "a", {"state": "queued"}),
                   ("again", (key("a"), key("b"), key("c")), {key("a"): 2}, (), ())]),
    Case("a crash with retries left is recorded up_for_retry and waits its delay",
         chain(retries=1),
         before=[("start",), ("report", report("a", "running", kind="start"))],
         event=crash("a"),
         expected=[("record", "a", "up_for_retry"), ("task", "a", {"next_try_at": NOW + 10})]),
    Case("a crash without retries fails the task once and forces that outcome downstream",
         chain(),
         before=[("start",), ("report", report("a", "running", kind="start"))],
         statuses={key("a"): "error", key("b"): "error", key("c"): "error"},
         event=crash("a"),
         expected=[("record", "a", "failed"), ("ended", "a", "failed"),
                   ("again", (key("a"), key("b"), key("c")), {}, (key("a"),), ())]),
    Case("a dependent erring with its upstream's crash is not blamed (upstream_failed "
         "comes from the forced outcome)", chain(),
         before=[("start",), crash("a", "OSError: gone", killed=None)],
         statuses={key("a"): "error", key("b"): "error"},
         event=crash("b", "OSError: gone", killed=None), expected=[]),
    Case("a KilledWorker naming another key blames that key", chain(),
         before=[("start",)], event=crash("b", killed=key("a")), expected=[]),
    Case("a crash after the success was recorded replays the recorded outcome", chain(),
         before=[("start",), ("report", report("a", "success", result="ref-a"))],
         event=crash("a"), expected=[("again", (key("a"),), {}, (), ())]),
    Case("a lost success that cannot be replayed three times runs its code again", chain(),
         before=[("start",), ("report", report("a", "success", result="ref-a")),
                 crash("a"), crash("a"), crash("a")],
         event=crash("a"),
         expected=[("warn",), ("again", (key("a"),), {key("a"): 2}, (), (key("a"),))]),
    Case("a planned retry erring in Dask changes nothing (the report said it)",
         chain(retries=1), before=[("start",)],
         event=crash("a", "RetryAttempt: a try 1", kind=rules.PLANNED, killed=None),
         expected=[]),
    Case("a cancelled key changes nothing", chain(), before=[("start",)],
         event=crash("a", "CancelledError", kind=rules.CANCELLED, killed=None), expected=[]),
    Case("a key refused for an expired lease re-runs once the lease is renewed", chain(),
         before=[("start",), crash("a", "LeaseExpired", kind=rules.LEASE_EXPIRED,
                                   killed=None)],
         statuses={key("a"): "error"},
         event=("lease",), expected=[("again", (key("a"),), {}, (), ())]),
    Case("a mapped task is submitted once its upstream reports the length", mapped(),
         before=[("start",)],
         event=("report", report("make", "success", lens={"return_value": 3})),
         expected=[("record", "make", "success"), ("ended", "make", "success"),
                   ("task", "double", {"state": "queued"}),
                   ("task", "double", {"state": "queued"}),
                   ("task", "double", {"state": "queued"}),
                   ("task", "total", {"state": "queued"}),
                   ("submit", ("double[0]", "double[1]", "double[2]", "total"))]),
    Case("a mapped task over a value that is not a list cannot expand", mapped(),
         before=[("start",)],
         event=("report", report("make", "success", lens={"return_value": None})),
         expected=[("record", "make", "success"), ("ended", "make", "success"),
                   ("task", "double", {"state": "queued"}),
                   ("task", "total", {"state": "queued"}),
                   ("submit", ("double:unexpandable", "total"))]),
    Case("a mapped task whose upstream failed cannot expand either", mapped(),
         before=[("start",)], event=("report", report("make", "failed")),
         expected=[("record", "make", "failed"), ("ended", "make", "failed"),
                   ("task", "double", {"state": "queued"}),
                   ("task", "total", {"state": "queued"}),
                   ("submit", ("double:unexpandable", "total"))]),
    Case("a held task is submitted when the hold is lifted", chain(),
         before=[("hold", {"b"})], event=("hold", set()),
         expected=[("task", "b", {"state": "queued"}), ("task", "c", {"state": "queued"}),
                   ("submit", ("b", "c"))]),
    Case("a stopped run cancels its keys and skips what did not finish", chain(),
         before=[("start",), ("report", report("a", "success"))], event=("stop",),
         expected=[("cancel",), ("task", "b", {"state": "skipped"}),
                   ("task", "c", {"state": "skipped"}), ("warn",)]),
    Case("a run marked failed fails its running tasks and skips those not started (as "
         "Airflow)", chain(),
         before=[("start",), ("report", report("a", "success")),
                 ("report", report("b", "running", kind="start"))], event=("mark-failed",),
         expected=[("cancel",), ("task", "b", {"state": "failed"}),
                   ("task", "c", {"state": "skipped"}), ("warn",)]),
    Case("a stall check with a key still processing changes nothing", chain(),
         before=[("start",)],
         event=("stalled", {"keys": {key("a"): {"state": "processing"}}, "workers": 1}),
         expected=[]),
    Case("a key no worker can take fails with the reason", chain(), before=[("start",)],
         event=("stalled", {"keys": {key("a"): {"state": "no-worker",
                                                "resources": {"GPU": 1}}},
                            "workers": 2, "offered": {}}),
         expected=[("warn",), ("fail-stuck", (key("a"),))]),
    Case("a key in memory without its report is recovered from its outcome", chain(),
         before=[("start",)],
         event=("stalled", {"keys": {key("a"): {"state": "memory"}}, "workers": 1}),
         expected=[("recover", (key("a"),))]),
    Case("keys Dask forgot make the run resubmit from the store", chain(), before=[("start",)],
         event=("stalled", {"keys": {key("a"): {"state": "forgotten"}}, "workers": 1}),
         expected=[("resubmit", (key("a"),))]),
    Case("a resumed run replays needed successes and waits out a stored retry delay",
         chain(retries=2),
         stored={("a", -1): StoredInstance("success", 1, "ref-a"),
                 ("b", -1): StoredInstance("up_for_retry", 1, next_try_at=NOW + 5)},
         needed={"a"}, event=("start",),
         expected=[("task", "b", {"state": "up_for_retry"}),
                   ("task", "c", {"state": "queued"}),
                   ("submit", ("a:replay", f"b:not-before={NOW + 5:g}", "c"))]),
    Case("a resumed run does not submit a finished task nothing downstream needs", fork(),
         stored={("a", -1): StoredInstance("success", 1, "ref-a"),
                 ("b", -1): StoredInstance("success", 1, "ref-b")},
         needed={"a"}, event=("start",),
         expected=[("task", "c", {"state": "queued"}), ("submit", ("a:replay", "c"))]),
    Case("an instance that was running when its loop died runs again as the next try",
         chain(), stored={("a", -1): StoredInstance("running", 1)}, event=("start",),
         expected=[("task", "a", {"state": "queued"}), ("task", "b", {"state": "queued"}),
                   ("task", "c", {"state": "queued"}), ("submit", ("a:try=2", "b", "c"))]),
    Case("a sensor that will poke again waits on a stored timer, with no outcome yet",
         chain(),
         before=[("start",)],
         event=("report", report("a", "up_for_reschedule", reschedule_at=NOW + 5)),
         expected=[("record", "a", "up_for_reschedule"),
                   ("task", "a", {"next_try_at": NOW + 5})]),
    Case("a reschedule re-runs the same try, with its first poke's time", chain(),
         before=[("start",), ("report", report("a", "up_for_reschedule",
                                               reschedule_at=NOW + 5))],
         event=("time", NOW + 5),
         expected=[("again", (key("a"),), {key("a"): 1}, (), (),
                    {key("a"): (NOW - 1, 1)})]),
    Case("a resumed run keeps a sensor's try and first poke, waiting for its next poke",
         chain(),
         stored={("a", -1): StoredInstance("up_for_reschedule", 1, next_try_at=NOW + 5,
                                           start=NOW - 30)},
         event=("start",),
         expected=[("task", "a", {"state": "up_for_reschedule"}),
                   ("task", "b", {"state": "queued"}), ("task", "c", {"state": "queued"}),
                   ("submit", (f"a:try=1,first-poke={NOW - 30:g},not-before={NOW + 5:g}",
                               "b", "c"))]),
    Case("a task that deferred is no outcome: its trigger waits, its timeout is a timer",
         chain(), before=[("start",)],
         event=("report", report("a", "deferred", deferral=DEFERRAL)),
         expected=[("record", "a", "deferred"), ("task", "a", {"deferral": "execute_complete"}),
                   ("trigger", key("a"), "FileTrigger")]),
    Case("a fired trigger schedules the same try to resume with the event",
         chain(), before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL))],
         event=("fired", "a", "event", True),
         expected=[("task", "a", {"state": "scheduled"})]),
    Case("the resume waits until Dask has the key erred, then passes the event and kwargs",
         chain(), before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL)),
                          ("fired", "a", "event", True)],
         event=("time", NOW + 1),
         expected=[("again", (key("a"),), {key("a"): 1}, (), (),
                    {key("a"): ("execute_complete", {"n": 1, "event": True})})]),
    Case("while Dask still runs the deferring key, the resume waits", chain(),
         before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL)),
                 ("fired", "a", "event", True)],
         statuses={key("a"): "pending"}, event=("time", NOW + 1), expected=[]),
    Case("a trigger past its timeout stops, and the try resumes only to fail", chain(),
         before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL))],
         event=("time", NOW + 60),
         expected=[("untrigger", (key("a"),)),
                   ("again", (key("a"),), {key("a"): 1}, (), (),
                    {key("a"): ("__fail__", {"error": "the trigger did not fire within the "
                                             "timeout given to defer() (task 'a')",
                                             "timeout": True})})]),
    Case("a failed trigger resumes the try only to fail, with the trigger's error", chain(),
         before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL)),
                 ("fired", "a", "error", "FileTrigger: OSError: gone")],
         event=("time", NOW + 1),
         expected=[("again", (key("a"),), {key("a"): 1}, (), (),
                    {key("a"): ("__fail__", {"error": "the trigger failed: FileTrigger: "
                                             "OSError: gone", "timeout": False})})]),
    Case("a trigger that ends the task forces the outcome on its key, without resuming",
         chain(), before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL)),
                          ("fired", "a", "success", None)],
         event=("time", NOW + 1),
         expected=[("record", "a", "success"), ("ended", "a", "success"),
                   ("again", (key("a"),), {key("a"): 1}, (key("a"),), ())]),
    Case("an event for a task no longer deferred is ignored", chain(),
         before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL)),
                 ("time", NOW + 60)],
         event=("fired", "a", "event", True), expected=[]),
    Case("a resumed run waits on a deferred task's trigger again, same try, never before it",
         chain(),
         stored={("a", -1): StoredInstance("deferred", 1, start=NOW - 30, deferral=DEFERRAL)},
         event=("start",),
         expected=[("task", "a", {"deferral": "execute_complete"}),
                   ("trigger", key("a"), "FileTrigger"),
                   ("task", "a", {"state": "deferred"}),
                   ("task", "b", {"state": "queued"}), ("task", "c", {"state": "queued"}),
                   ("submit", ("a:try=1,until-triggered", "b", "c"))]),
    Case("a task whose trigger fired just before its loop died waits on it again", chain(),
         stored={("a", -1): StoredInstance("scheduled", 2, start=NOW - 30, deferral=DEFERRAL)},
         event=("start",),
         expected=[("task", "a", {"deferral": "execute_complete"}),
                   ("trigger", key("a"), "FileTrigger"),
                   ("task", "a", {"state": "deferred"}),
                   ("task", "b", {"state": "queued"}), ("task", "c", {"state": "queued"}),
                   ("submit", ("a:try=2,until-triggered", "b", "c"))]),
    Case("a stopped run stops its triggers", chain(),
         before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL))],
         event=("stop",),
         expected=[("cancel",), ("untrigger", (key("a"),)), ("task", "a", {"state": "skipped"}),
                   ("task", "b", {"state": "skipped"}), ("task", "c", {"state": "skipped"}),
                   ("warn",)]),
    Case("a run marked failed fails a deferred task, as Airflow does", chain(),
         before=[("start",), ("report", report("a", "deferred", deferral=DEFERRAL))],
         event=("mark-failed",),
         expected=[("cancel",), ("untrigger", (key("a"),)), ("task", "a", {"state": "failed"}),
                   ("task", "b", {"state": "skipped"}), ("task", "c", {"state": "skipped"}),
                   ("warn",)]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rules(case: Case) -> None:
    run = RunDecisions(case.dag, "d", "r", TOKEN, stored=case.stored, needed=case.needed,
                       statuses=case.statuses)
    for event in case.before:
        _apply(run, event)
    assert _summary(_apply(run, case.event)) == case.expected


def test_the_run_finishes_with_the_state_of_its_leaves() -> None:
    run = RunDecisions(fork(), "d", "r", TOKEN)
    run.start()
    run.task_reported(report("a", "success"), NOW)
    run.task_reported(report("b", "success"), NOW)
    assert not run.finished
    run.task_reported(report("c", "failed"), NOW)
    assert run.finished
    assert run.final_state().value == "failed"


def test_a_run_waiting_on_a_trigger_is_not_finished_and_cannot_stall() -> None:
    run = RunDecisions(chain(), "d", "r", TOKEN)
    run.start()
    run.task_reported(report("a", "deferred", deferral={**DEFERRAL, "timeout_at": None}), NOW)
    assert not run.finished
    assert not run.may_be_stalled()
    assert run.next_timer() is None


def test_a_run_waiting_on_a_retry_is_not_finished_and_cannot_stall() -> None:
    run = RunDecisions(chain(retries=1), "d", "r", TOKEN)
    run.start()
    run.task_reported(report("a", "up_for_retry"), NOW)
    assert not run.finished
    assert run.next_timer() == NOW + 10
    assert not run.may_be_stalled()


def test_a_due_retry_asks_the_shell_to_look_for_its_error_soon_but_not_forever() -> None:
    statuses = {key("a"): "pending"}
    run = RunDecisions(chain(retries=1), "d", "r", TOKEN, statuses=statuses)
    run.start()
    run.task_reported(report("a", "up_for_retry"), NOW)
    assert not run.waits_for_error(NOW + 5)  # not due yet
    assert run.waits_for_error(NOW + 10)  # due, and Dask has not erred the key yet
    assert not run.waits_for_error(NOW + 10 + rules.ERRED_SOON)  # now only ERRED_WAIT helps
    statuses[key("a")] = "error"
    assert not run.waits_for_error(NOW + 10)  # erred: time_passed re-runs it at once


def test_a_final_crash_lets_the_tasks_downstream_be_planned_after_a_mapping() -> None:
    """The failed outcome is forced on the crashed key; a mapped task below cannot expand."""
    run = RunDecisions(mapped(), "d", "r", TOKEN, statuses={key("make"): "error"})
    run.start()
    out = run.key_erred(KeyErred(key("make"), rules.CRASHED, "OSError: gone"), NOW)
    assert ("submit", ("double:unexpandable", "total")) in _summary(out)
    assert run.instance_of(key("make")).state.value == "failed"
