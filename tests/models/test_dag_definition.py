"""Defining DAGs: construction, default_args, validation errors, wiring, task groups."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from daskflow import DAG, TaskGroup, chain, cross_downstream, dag
from daskflow.exceptions import DagDefinitionError, TaskNotFound
from daskflow.models import _authoring_stack
from daskflow.models.baseoperator import BaseOperator
from daskflow.models.taskgroup import task_group
from daskflow.operators import BashOperator, EmptyOperator, PythonOperator


def ups(task: BaseOperator) -> list[str]:
    return sorted(task.upstream_task_ids)


def edges(d: DAG) -> dict[str, list[str]]:
    return {t.task_id: ups(t) for t in d.tasks}


def noop() -> None:
    return None


# -- construction -------------------------------------------------------------------
def test_context_manager_collects_tasks_and_closes_the_stack():
    with DAG("cm") as d:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
    assert d.task_ids == ["a", "b"]
    assert a.dag is d and b.dag_id == "cm"
    assert _authoring_stack.current_dag() is None
    outside = EmptyOperator(task_id="outside")
    assert outside.dag is None and "outside" not in d.task_dict


def test_stack_is_closed_after_an_error_inside_the_block():
    with pytest.raises(DagDefinitionError), DAG("cm_err"):
        EmptyOperator(task_id="a")
        EmptyOperator(task_id="a")
    assert _authoring_stack.current_dag() is None


def test_airflow_3_defaults():
    d = DAG("defaults")
    assert d.schedule is None and d.catchup is False
    assert d.max_active_runs == 16 and d.max_active_tasks == 16
    assert d.params == {} and d.default_args == {}


def test_naive_dates_are_utc_and_start_date_comes_from_default_args():
    d = DAG("dates", default_args={"start_date": datetime(2024, 1, 1)})
    assert d.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
    explicit = DAG("dates2", start_date=datetime(2024, 2, 1), default_args={
        "start_date": datetime(2024, 1, 1)})
    assert explicit.start_date.month == 2


def test_explicit_dag_argument_outside_a_block():
    d = DAG("explicit")
    a = EmptyOperator(task_id="a", dag=d)
    b = EmptyOperator(task_id="b", dag=d)
    a >> b
    assert d.task_ids == ["a", "b"] and ups(b) == ["a"]


def test_get_task_and_has_task():
    with DAG("lookup") as d:
        EmptyOperator(task_id="a")
    assert d.get_task("a").task_id == "a" and d.has_task("a") and not d.has_task("z")
    with pytest.raises(TaskNotFound, match="'lookup'.*'z'"):
        d.get_task("z")


# -- @dag ---------------------------------------------------------------------------
def test_dag_decorator_uses_function_name_and_args_as_params():
    @dag(schedule="@daily", start_date=datetime(2024, 1, 1))
    def nightly_etl(rows: int = 10, table: str = "events"):
        """Load the events."""
        PythonOperator(task_id="load", python_callable=noop, op_args=[rows, table])

    d = nightly_etl()
    assert isinstance(d, DAG) and d.dag_id == "nightly_etl"
    assert d.params == {"rows": 10, "table": "events"}
    assert d.schedule == "@daily" and d.doc_md == "Load the events."
    load = d.get_task("load")
    assert [ref.name for ref in load.op_args] == ["rows", "table"]
    assert nightly_etl(rows=99).params["rows"] == 99


def test_dag_decorator_without_parentheses_and_explicit_id():
    @dag
    def bare():
        EmptyOperator(task_id="t")

    @dag(dag_id="renamed", params={"extra": 1})
    def named(x=2):
        EmptyOperator(task_id="t")

    assert bare().dag_id == "bare"
    d = named()
    assert d.dag_id == "renamed" and d.params == {"extra": 1, "x": 2}


def test_dag_decorator_validates_on_return():
    @dag
    def cyclic():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b >> a

    with pytest.raises(DagDefinitionError, match="'cyclic' has a cycle"):
        cyclic()


# -- default_args -------------------------------------------------------------------
def test_default_args_reach_every_operator_kind():
    args = {"retries": 3, "retry_delay": timedelta(seconds=7), "owner": "data",
            "not_an_argument": "ignored"}
    with DAG("defaults_all", default_args=args):
        empty = EmptyOperator(task_id="empty")
        base = BaseOperator(task_id="base")
        bash = BashOperator(task_id="bash", bash_command="true")
        py = PythonOperator(task_id="py", python_callable=noop)
    for op in (empty, base, bash, py):
        assert (op.retries, op.retry_delay, op.owner) == (3, timedelta(seconds=7), "data")


def test_explicit_arguments_win_over_default_args():
    with DAG("defaults_explicit", default_args={"retries": 3, "pool": "p"}):
        t = EmptyOperator(task_id="t", retries=0)
    assert t.retries == 0 and t.pool == "p"


def test_operator_own_default_args_win_over_the_dags():
    with DAG("defaults_own", default_args={"retries": 3}):
        t = EmptyOperator(task_id="t", default_args={"retries": 1})
    assert t.retries == 1


def test_task_group_default_args_override_the_dags_and_nest():
    with DAG("defaults_groups", default_args={"retries": 1, "owner": "dag"}):
        top = EmptyOperator(task_id="top")
        with TaskGroup("g", default_args={"retries": 2}):
            in_g = EmptyOperator(task_id="in_g")
            explicit = EmptyOperator(task_id="explicit", retries=9)
            with TaskGroup("inner", default_args={"owner": "inner"}):
                deep = EmptyOperator(task_id="deep")
    assert (top.retries, top.owner) == (1, "dag")
    assert (in_g.retries, in_g.owner) == (2, "dag")
    assert explicit.retries == 9
    assert (deep.retries, deep.owner) == (2, "inner")


def test_default_args_apply_to_subclass_arguments_too():
    with DAG("defaults_sub", default_args={"bash_command": "echo hi", "append_env": True}):
        b = BashOperator(task_id="b")
    assert b.bash_command == "echo hi" and b.append_env is True


# -- errors naming the DAG and the task ----------------------------------------------
def test_duplicate_task_id():
    with pytest.raises(DagDefinitionError) as err, DAG("dups"):
        EmptyOperator(task_id="same")
        EmptyOperator(task_id="same")
    assert "'dups'" in str(err.value) and "'same'" in str(err.value)


def test_cycle_message_prints_the_cycle():
    with pytest.raises(DagDefinitionError) as err, DAG("loop"):
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        d >> a >> b >> c >> a
    assert "DAG 'loop' has a cycle: a >> b >> c >> a" in str(err.value)


def test_find_cycle_is_empty_for_a_dag():
    with DAG("acyclic") as d:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    assert d.find_cycle() == []


def test_self_dependency():
    with pytest.raises(DagDefinitionError, match="'selfish'.*itself"), DAG("selfish"):
        t = EmptyOperator(task_id="t")
        t >> t


def test_wiring_tasks_of_two_dags():
    with DAG("first"):
        a = EmptyOperator(task_id="a")
    with DAG("second"):
        b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError) as err:
        a >> b
    message = str(err.value)
    assert all(s in message for s in ("'first'", "'second'", "'a'", "'b'"))
    assert not a.downstream_task_ids and not b.upstream_task_ids


def test_wiring_two_tasks_without_a_dag():
    with pytest.raises(DagDefinitionError, match="neither task belongs to a DAG"):
        EmptyOperator(task_id="x") >> EmptyOperator(task_id="y")


def test_a_task_without_dag_joins_the_dag_it_is_wired_to():
    loose = EmptyOperator(task_id="loose")
    with DAG("adopt") as d:
        a = EmptyOperator(task_id="a")
        a >> loose
    assert loose.dag is d and d.task_ids == ["a", "loose"]


BAD_ARGUMENTS = [
    ({"trigger_rule": "sometimes"}, "trigger_rule"),
    ({"retries": -1}, "retries"),
    ({"retries": "many"}, "retries"),
    ({"retry_delay": "5m"}, "retry_delay"),
    ({"retry_delay": -5}, "retry_delay"),
    ({"pool_slots": 0}, "pool_slots"),
    ({"resources": ["GPU"]}, "resources"),
    ({"resources": {"GPU": "one"}}, "resources"),
    ({"execution_timeout": "1h"}, "execution_timeout"),
    ({"priority_weight": 1.5}, "priority_weight"),
    ({"weight_rule": "heaviest"}, "weight_rule"),
    ({"on_failure_callback": "alert"}, "on_failure_callback"),
    ({"on_success_callback": [noop, 3]}, "on_success_callback"),
    ({"no_such_argument": 1}, "no_such_argument"),
    ({"queue": "gpu"}, "queue"),
    ({"executor_config": {"KubernetesExecutor": {"image": "x"}}}, "executor_config"),
    ({"inlets": ["s3://bucket/in"]}, "inlets"),
    ({"outlets": ["s3://bucket/out"]}, "outlets"),
    ({"max_active_tis_per_dag": 0}, "max_active_tis_per_dag"),
    ({"max_active_tis_per_dagrun": "2"}, "max_active_tis_per_dagrun"),
    ({"start_date": "2024-01-01"}, "start_date"),
    ({"start_date": datetime(2024, 2, 1), "end_date": datetime(2024, 1, 1)}, "end_date"),
    ({"default_args": {"run_as_user": "etl"}}, "run_as_user"),
    ({"default_args": {"ignore_first_depends_on_past": True}}, "ignore_first_depends_on_past"),
]


@pytest.mark.parametrize(("kwargs", "named"), BAD_ARGUMENTS, ids=[n for _, n in BAD_ARGUMENTS])
def test_bad_operator_arguments_name_dag_task_and_argument(kwargs, named):
    with pytest.raises(DagDefinitionError) as err, DAG("bad_args"):
        EmptyOperator(task_id="victim", **kwargs)
    message = str(err.value)
    assert "'bad_args'" in message and "'victim'" in message and named in message


def test_airflow_defaults_of_refused_settings_are_accepted():
    with DAG("quiet_defaults"):
        task = EmptyOperator(task_id="t", queue="default", executor_config={}, inlets=[],
                             outlets=None, max_active_tis_per_dag=None,
                             default_args={"sla": None, "doc_rst": "kept out"})
    assert task.queue == "default" and task.executor_config == {} and task.outlets == []


def test_wait_for_downstream_implies_depends_on_past_and_dates_are_utc():
    with DAG("waits"):
        task = EmptyOperator(task_id="t", wait_for_downstream=True,
                             start_date=datetime(2024, 1, 1), end_date=datetime(2024, 6, 1))
    assert task.depends_on_past is True
    assert task.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert task.end_date.tzinfo is timezone.utc


@pytest.mark.parametrize("name", ["queue", "start_date", "max_active_tis_per_dag",
                                  "wait_for_downstream", "pool_slots", "resources",
                                  "retry_delay", "on_failure_callback"])
def test_settings_of_the_whole_task_cannot_be_expanded(name):
    values = {"queue": ["gpu"], "start_date": [datetime(2024, 1, 1)],
              "max_active_tis_per_dag": [1], "wait_for_downstream": [True], "pool_slots": [2],
              "resources": [{"GPU": 1}], "retry_delay": [5], "on_failure_callback": [noop]}
    with pytest.raises(DagDefinitionError) as err, DAG("mapped_settings"):
        BashOperator.partial(task_id="m").expand(bash_command=["true"], **{name: values[name]})
    message = str(err.value)
    assert "'mapped_settings'" in message and "'m'" in message and repr(name) in message
    with pytest.raises(DagDefinitionError, match=repr(name)), DAG("mapped_kwargs"):
        BashOperator.partial(task_id="m").expand_kwargs(
            [{"bash_command": "true", name: values[name][0]}])


def test_retries_none_and_numeric_string_are_read_as_airflow_does():
    with DAG("retries_forms"):
        a = EmptyOperator(task_id="a", retries=None)
        b = EmptyOperator(task_id="b", retries="2")
        c = EmptyOperator(task_id="c", retry_delay=30)
    assert (a.retries, b.retries) == (0, 2)
    assert c.retry_delay == timedelta(seconds=30)


def test_priority_weights_follow_the_weight_rule():
    with DAG("weights") as d:
        a = EmptyOperator(task_id="a", priority_weight=1)
        b = EmptyOperator(task_id="b", priority_weight=2, weight_rule="upstream")
        c = EmptyOperator(task_id="c", priority_weight=4, weight_rule="absolute")
        z = EmptyOperator(task_id="z", priority_weight=8)
        a >> b >> c >> z
    assert d.priority_weights() == {"a": 15, "b": 3, "c": 4, "z": 8}


def test_non_callable_python_callable():
    with pytest.raises(DagDefinitionError) as err, DAG("not_callable"):
        PythonOperator(task_id="p", python_callable="print")
    assert "'not_callable'" in str(err.value) and "'p'" in str(err.value)
    assert "python_callable" in str(err.value)


def test_missing_required_operator_argument():
    with pytest.raises(DagDefinitionError) as err, DAG("missing_arg"):
        BashOperator(task_id="b")
    assert "'missing_arg'" in str(err.value) and "bash_command" in str(err.value)


@pytest.mark.parametrize("task_id", ["has space", "slash/y", "", "x" * 251, 7])
def test_invalid_task_id(task_id):
    with pytest.raises(DagDefinitionError) as err, DAG("bad_task_id"):
        EmptyOperator(task_id=task_id)
    assert "'bad_task_id'" in str(err.value) and "invalid task_id" in str(err.value)


@pytest.mark.parametrize("dag_id", ["has space", "semi;colon", "", "x" * 251, None])
def test_invalid_dag_id(dag_id):
    with pytest.raises(DagDefinitionError, match="invalid dag_id"):
        DAG(dag_id)


def test_valid_ids_with_dots_and_dashes():
    with DAG("team.etl-v2") as d:
        EmptyOperator(task_id="load-v2.part_1")
    assert d.task_ids == ["load-v2.part_1"]


BAD_DAGS = [
    ({"start_date": datetime(2024, 2, 1), "end_date": datetime(2024, 1, 1)}, "end_date"),
    ({"default_args": {"start_date": datetime(2024, 2, 1)}, "end_date": datetime(2024, 1, 1)},
     "end_date"),
    ({"start_date": "2024-01-01"}, "start_date"),
    ({"schedule": "not a cron"}, "not a cron"),
    ({"schedule": "61 * * * *"}, "61 * * * *"),
    ({"schedule": 5}, "schedule"),
    ({"default_args": ["retries"]}, "default_args"),
    ({"params": "x"}, "params"),
    ({"max_active_runs": 0}, "max_active_runs"),
    ({"max_active_tasks": True}, "max_active_tasks"),
    ({"dagrun_timeout": 60}, "dagrun_timeout"),
    ({"on_failure_callback": "page me"}, "on_failure_callback"),
    ({"fail_fast": True}, "fail_fast"),
    ({"max_consecutive_failed_dag_runs": 3}, "max_consecutive_failed_dag_runs"),
]


@pytest.mark.parametrize(("kwargs", "named"), BAD_DAGS, ids=[n for _, n in BAD_DAGS])
def test_bad_dag_arguments_name_the_dag(kwargs, named):
    with pytest.raises(DagDefinitionError) as err:
        DAG("broken", **kwargs)
    assert "DAG 'broken'" in str(err.value) and named in str(err.value)


def test_schedule_forms_accepted():
    assert DAG("s1", schedule="0 2 * * *").timetable is not None
    assert DAG("s2", schedule="@hourly").timetable is not None
    assert DAG("s3", schedule=timedelta(hours=6)).timetable is not None
    assert DAG("s4", schedule=None).timetable is not None


# -- >> and << ----------------------------------------------------------------------
def test_shift_operators_return_the_right_side_for_chaining():
    with DAG("shift") as d:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        assert (a >> b) is b
        assert (c << b) is b
    assert edges(d) == {"a": [], "b": ["a"], "c": ["b"]}
    assert sorted(a.downstream_task_ids) == ["b"]


def test_lists_on_either_side():
    with DAG("lists") as d:
        a, b, c, x, y = (EmptyOperator(task_id=n) for n in "abcxy")
        assert ([a, b] >> c) is c
        assert (c >> [x, y]) == [x, y]
        assert ([x, y] << a) is a
    assert edges(d) == {"a": [], "b": [], "c": ["a", "b"], "x": ["a", "c"], "y": ["a", "c"]}


def test_set_upstream_and_set_downstream():
    with DAG("setters") as d:
        a, b, c = (EmptyOperator(task_id=n) for n in "abc")
        b.set_upstream(a)
        b.set_downstream([c])
    assert edges(d) == {"a": [], "b": ["a"], "c": ["b"]}
    assert [t.task_id for t in b.upstream_list] == ["a"]
    assert [t.task_id for t in b.downstream_list] == ["c"]


def test_wiring_to_something_that_is_not_a_task():
    with pytest.raises(DagDefinitionError, match="cannot set a dependency on 'b'"), \
            DAG("not_task"):
        EmptyOperator(task_id="a") >> "b"


def test_wiring_twice_keeps_one_edge():
    with DAG("twice") as d:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b
        a >> b
    assert edges(d)["b"] == ["a"] and d.structure()["tasks"]["b"]["upstream"] == ["a"]


# -- chain and cross_downstream ------------------------------------------------------
def test_chain_single_tasks():
    with DAG("chain_plain") as d:
        chain(*(EmptyOperator(task_id=n) for n in "abcd"))
    assert edges(d) == {"a": [], "b": ["a"], "c": ["b"], "d": ["c"]}


def test_chain_lists_fan_out_pairwise_and_fan_in():
    with DAG("chain_lists") as d:
        a, b1, b2, c1, c2, z = (EmptyOperator(task_id=n) for n in
                                ("a", "b1", "b2", "c1", "c2", "z"))
        chain(a, [b1, b2], [c1, c2], z)
    assert edges(d) == {"a": [], "b1": ["a"], "b2": ["a"], "c1": ["b1"], "c2": ["b2"],
                        "z": ["c1", "c2"]}


def test_chain_mismatched_list_lengths():
    with pytest.raises(DagDefinitionError, match=r"different lengths \(2 and 3\)"), \
            DAG("chain_mismatch"):
        chain([EmptyOperator(task_id="a"), EmptyOperator(task_id="b")],
              [EmptyOperator(task_id=n) for n in "xyz"])


def test_chain_with_groups_and_task_outputs():
    from daskflow import task

    @task
    def produce():
        return 1

    with DAG("chain_mixed") as d:
        out = produce()
        with TaskGroup("g") as g:
            EmptyOperator(task_id="inner")
        end = EmptyOperator(task_id="end")
        chain(out, g, end)
    assert edges(d) == {"produce": [], "g.inner": ["produce"], "end": ["g.inner"]}


def test_cross_downstream():
    with DAG("cross") as d:
        a, b, x, y = (EmptyOperator(task_id=n) for n in "abxy")
        cross_downstream([a, b], [x, y])
    assert edges(d) == {"a": [], "b": [], "x": ["a", "b"], "y": ["a", "b"]}


# -- task groups --------------------------------------------------------------------
def test_group_prefixes_ids_and_nests():
    with DAG("groups") as d:
        with TaskGroup("extract") as extract:
            EmptyOperator(task_id="pull")
            with TaskGroup("clean") as clean:
                EmptyOperator(task_id="dedupe")
    assert d.task_ids == ["extract.pull", "extract.clean.dedupe"]
    assert extract.group_id == "extract" and clean.group_id == "extract.clean"
    assert [t.task_id for t in extract.iter_tasks()] == d.task_ids
    assert d.get_task("extract.pull").task_group is extract


def test_prefix_group_id_false_adds_no_prefix_even_inside_a_prefixed_group():
    with DAG("no_prefix") as d:
        with TaskGroup("outer"):
            with TaskGroup("flat", prefix_group_id=False) as flat:
                EmptyOperator(task_id="t")
                with TaskGroup("sub") as sub:
                    EmptyOperator(task_id="u")
    # As in Airflow: the flat group keeps its own prefixed id, its children get none.
    assert flat.group_id == "outer.flat"
    assert sub.group_id == "sub"
    assert d.task_ids == ["t", "sub.u"]


def test_group_wiring_attaches_to_roots_and_leaves():
    with DAG("group_wiring") as d:
        start = EmptyOperator(task_id="start")
        with TaskGroup("g") as g:
            a, b, c = (EmptyOperator(task_id=n) for n in "abc")
            a >> b
        end = EmptyOperator(task_id="end")
        start >> g >> end
    assert edges(d) == {"start": [], "g.a": ["start"], "g.b": ["g.a"], "g.c": ["start"],
                        "end": ["g.b", "g.c"]}
    assert [t.task_id for t in d.roots] == ["start"]
    assert [t.task_id for t in d.leaves] == ["end"]


def test_group_to_group_and_reverse_shift():
    with DAG("g2g") as d:
        with TaskGroup("one") as one:
            EmptyOperator(task_id="x") >> EmptyOperator(task_id="y")
        with TaskGroup("two") as two:
            EmptyOperator(task_id="p")
            EmptyOperator(task_id="q")
        two << one
    assert edges(d)["two.p"] == ["one.y"] and edges(d)["two.q"] == ["one.y"]


def test_root_group_holds_top_level_tasks_and_groups():
    with DAG("root_group") as d:
        EmptyOperator(task_id="a")
        with TaskGroup("g"):
            EmptyOperator(task_id="b")
        EmptyOperator(task_id="c")
    assert list(d.task_group.children) == ["a", "g", "c"]
    assert [t.task_id for t in d.task_group.iter_tasks()] == ["a", "g.b", "c"]


def test_duplicate_group_id():
    with pytest.raises(DagDefinitionError) as err, DAG("dup_groups"):
        with TaskGroup("g"):
            EmptyOperator(task_id="a")
        with TaskGroup("g"):
            EmptyOperator(task_id="b")
    assert "'dup_groups'" in str(err.value) and "'g'" in str(err.value)


@pytest.mark.parametrize("group_id", ["a.b", "has space", ""])
def test_invalid_group_id(group_id):
    with pytest.raises(DagDefinitionError, match="'bad_group'.*invalid group_id"), \
            DAG("bad_group"):
        TaskGroup(group_id)


def test_group_outside_a_dag():
    with pytest.raises(DagDefinitionError, match="inside a DAG"):
        TaskGroup("lonely")


def test_task_group_decorator_names_dedups_and_forwards_the_return_value():
    from daskflow import task

    @task
    def step(x=0):
        return x

    @task_group
    def stage(n):
        """Two steps."""
        return step(step(n))

    @task_group(group_id="side", default_args={"retries": 4})
    def side():
        EmptyOperator(task_id="x")

    with DAG("tg_decorator") as d:
        start = EmptyOperator(task_id="start")
        first = stage(1)
        second = stage.override(prefix_group_id=False)(2)
        group = side()
        start >> first
        first >> group
    assert d.task_ids == ["start", "stage.step", "stage.step__1", "step", "step__1", "side.x"]
    assert first.operator.task_id == "stage.step__1"
    assert second.operator.task_id == "step__1"
    assert isinstance(group, TaskGroup) and group.group_id == "side"
    assert group.tooltip == "" and d.task_group.children["stage"].tooltip == "Two steps."
    assert d.get_task("side.x").retries == 4
    # the returned output is what gets wired, as in Airflow
    assert ups(d.get_task("stage.step__1")) == ["stage.step", "start"]
    assert ups(d.get_task("side.x")) == ["stage.step__1"]
    with pytest.raises(DagDefinitionError, match="not supported"), DAG("tg_map"):
        stage.expand(n=[1, 2])


# -- structure ----------------------------------------------------------------------
def test_topological_sort_respects_edges_and_keeps_definition_order():
    with DAG("topo") as d:
        late = EmptyOperator(task_id="late")
        first = EmptyOperator(task_id="first")
        mid1 = EmptyOperator(task_id="mid1")
        mid2 = EmptyOperator(task_id="mid2")
        first >> [mid1, mid2] >> late
    order = [t.task_id for t in d.topological_sort()]
    assert order == ["first", "mid1", "mid2", "late"]


def test_roots_and_leaves_of_a_diamond_with_a_loner():
    with DAG("diamond") as d:
        a, b, c, z = (EmptyOperator(task_id=n) for n in "abcz")
        lone = EmptyOperator(task_id="lone")
        a >> [b, c] >> z
    assert {t.task_id for t in d.roots} == {"a", "lone"}
    assert {t.task_id for t in d.leaves} == {"z", "lone"}
    assert lone.task_id in d.task_ids


def test_structure_hash_changes_with_the_shape():
    def build(extra_edge: bool) -> DAG:
        with DAG("shape") as d:
            a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
            if extra_edge:
                a >> b
        return d

    assert build(False).structure_hash() == build(False).structure_hash()
    assert build(False).structure_hash() != build(True).structure_hash()
