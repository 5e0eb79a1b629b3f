"""TaskFlow (@task), XComArg wiring and dynamic task mapping, without running anything."""

from __future__ import annotations

import cloudpickle
import pytest

from daskflow import DAG, TaskGroup, task
from daskflow.exceptions import DagDefinitionError
from daskflow.models.dag import DagSummary
from daskflow.models.mapping import MappedOperator, mapped_count, values_for
from daskflow.models.xcom_arg import XComArg
from daskflow.operators import BashOperator, EmptyOperator, PythonOperator


@task
def produce():
    return [1, 2, 3]


@task
def consume(x, y=0):
    return x + y


def instances(op: MappedOperator) -> list:
    """Every concrete operator of a literally mapped task."""
    return [op.unmap(i, op.expand_input, op.partial_kwargs) for i in range(op.literal_count())]


# -- @task ----------------------------------------------------------------------------
def test_calling_a_task_creates_an_operator_and_returns_its_output():
    with DAG("tf_basic") as d:
        out = produce()
    assert isinstance(out, XComArg) and out.key == "return_value"
    op = d.get_task("produce")
    assert out.operator is op and isinstance(op, PythonOperator)
    assert op.python_callable.__name__ == "produce"


def test_passing_an_output_wires_the_dependency_and_keeps_the_reference():
    with DAG("tf_wire") as d:
        first = produce()
        second = consume(first, y=first)
    op = second.operator
    assert op.upstream_task_ids == {"produce"}
    assert op.op_args == [first] and op.op_kwargs == {"y": first}
    assert d.get_task("produce").downstream_task_ids == {"consume"}


def test_outputs_nested_in_structures_are_found():
    with DAG("tf_nested"):
        a = produce()
        b = produce()
        c = consume({"inner": [a, (b,)]})
    assert c.operator.upstream_task_ids == {"produce", "produce__1"}


def test_repeated_calls_get_airflow_style_suffixes():
    with DAG("tf_dedup") as d:
        for _ in range(3):
            produce()
        with TaskGroup("g"):
            produce()
            produce()
    assert d.task_ids == ["produce", "produce__1", "produce__2", "g.produce", "g.produce__1"]


def test_override_changes_task_settings_only_for_that_call():
    with DAG("tf_override") as d:
        custom = consume.override(task_id="custom", retries=4, trigger_rule="all_done")(1)
        plain = consume(2)
    assert custom.operator.task_id == "custom"
    assert (custom.operator.retries, str(custom.operator.trigger_rule)) == (4, "all_done")
    assert plain.operator.task_id == "consume" and plain.operator.retries == 0
    assert d.task_ids == ["custom", "consume"]


def test_task_decorator_arguments_and_default_args():
    @task(retries=2, pool="db")
    def slow():
        return None

    with DAG("tf_args", default_args={"retries": 5, "owner": "ml"}):
        op = slow().operator
    assert (op.retries, op.pool, op.owner) == (2, "db", "ml")


def test_multiple_outputs_inferred_from_a_dict_annotation():
    @task
    def as_dict() -> dict:
        return {}

    @task
    def as_generic() -> dict[str, int]:
        return {}

    @task
    def as_list() -> list:
        return []

    @task(multiple_outputs=False)
    def refused() -> dict:
        return {}

    @task(multiple_outputs=True)
    def explicit():
        return {}

    with DAG("tf_multi"):
        flags = [f().operator.multiple_outputs
                 for f in (as_dict, as_generic, as_list, refused, explicit)]
    assert flags == [True, True, False, False, True]


def test_output_item_is_a_keyed_reference_with_the_same_dependency():
    with DAG("tf_item"):
        out = produce()
        used = consume(out["rows"])
    ref = used.operator.op_args[0]
    assert (ref.task_id, ref.key) == ("produce", "rows")
    assert ref.resolve({"rows": 5}) == 5 and out.resolve([1]) == [1]
    assert used.operator.upstream_task_ids == {"produce"}


def test_output_cannot_be_iterated_at_definition_time():
    with DAG("tf_iter"):
        out = produce()
        with pytest.raises(TypeError, match="not known until it runs"):
            list(out)


def test_classic_operator_output_feeds_a_task():
    with DAG("tf_classic"):
        bash = BashOperator(task_id="bash", bash_command="echo 1")
        used = consume(bash.output)
    assert used.operator.upstream_task_ids == {"bash"}


def test_task_outputs_wire_with_shift():
    with DAG("tf_shift") as d:
        a = produce()
        e = EmptyOperator(task_id="e")
        a >> e
    assert d.get_task("e").upstream_task_ids == {"produce"}


def test_task_called_outside_a_dag():
    with pytest.raises(DagDefinitionError, match="'produce' was called outside a DAG"):
        produce()


def test_arguments_that_do_not_fit_the_signature():
    with pytest.raises(DagDefinitionError) as err, DAG("tf_sig"):
        consume(1, 2, 3)
    assert "'consume'" in str(err.value) and "'tf_sig'" in str(err.value)


def test_context_parameters_may_be_left_out_like_in_airflow():
    @task
    def uses_context(x, ti=None, ds=None):
        return x

    @task
    def positional_context(ti, params):
        return None

    @task
    def needs_x(x, **context):
        return x

    with DAG("tf_ctx"):
        uses_context(1)
        positional_context()
        with pytest.raises(DagDefinitionError, match="missing a required argument: 'x'"):
            needs_x()


def test_context_parameter_default_other_than_none_is_refused():
    @task
    def bad(ds="2024-01-01"):
        return ds

    with pytest.raises(DagDefinitionError, match="'ds' can only default to None"), \
            DAG("tf_ctx_default"):
        bad()


def test_branch_and_short_circuit_decorators():
    @task.branch
    def choose():
        return "a"

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def gate():
        return False

    @task.python
    def plain():
        return 1

    with DAG("tf_kinds"):
        b, s, p = choose().operator, gate().operator, plain().operator
    assert b.is_branch and not b.is_short_circuit
    assert s.is_short_circuit and not s.is_branch
    assert s.ignore_downstream_trigger_rules is False
    assert not p.is_branch and not p.is_short_circuit


# -- mapping --------------------------------------------------------------------------
def test_expand_over_a_literal_list():
    with DAG("map_list"):
        mapped = consume.expand(x=[10, 20, 30])
    op = mapped.operator
    assert isinstance(op, MappedOperator) and op.is_mapped
    assert op.literal_count() == 3 and not op.expands_at_runtime()
    concrete = instances(op)
    assert [t.op_kwargs for t in concrete] == [{"x": 10}, {"x": 20}, {"x": 30}]
    assert [t.map_index for t in concrete] == [0, 1, 2]
    assert all(type(t) is op.operator_class for t in concrete)
    assert all(not t.is_mapped and t.task_id == "consume" for t in concrete)


def test_expand_cross_product_is_first_key_slowest():
    with DAG("map_product"):
        op = consume.expand(x=[1, 2], y=[10, 20, 30]).operator
    assert op.literal_count() == 6
    assert [(t.op_kwargs["x"], t.op_kwargs["y"]) for t in instances(op)] == [
        (1, 10), (1, 20), (1, 30), (2, 10), (2, 20), (2, 30)]


def test_expand_over_a_dict_gives_key_value_pairs():
    with DAG("map_dict"):
        op = consume.expand(x={"a": 1, "b": 2}).operator
    assert [t.op_kwargs["x"] for t in instances(op)] == [("a", 1), ("b", 2)]


def test_partial_then_expand_keeps_the_fixed_arguments():
    with DAG("map_partial"):
        op = consume.partial(y=100).expand(x=[1, 2]).operator
    assert [t.op_kwargs for t in instances(op)] == [{"y": 100, "x": 1}, {"y": 100, "x": 2}]


def test_expand_kwargs_takes_one_dict_per_instance():
    with DAG("map_kwargs"):
        op = consume.expand_kwargs([{"x": 1}, {"x": 2, "y": 3}]).operator
    assert op.literal_count() == 2
    assert [t.op_kwargs for t in instances(op)] == [{"x": 1}, {"x": 2, "y": 3}]


def test_empty_literal_gives_zero_instances():
    with DAG("map_empty"):
        op = consume.expand(x=[]).operator
    assert op.literal_count() == 0


def test_python_operator_partial_expand():
    with DAG("map_python"):
        op = PythonOperator.partial(task_id="py", python_callable=consume, retries=2).expand(
            op_args=[[1], [2, 3]])
    assert op.task_id == "py" and op.retries == 2 and op.literal_count() == 2
    concrete = instances(op)
    assert all(type(t) is PythonOperator for t in concrete)
    assert [t.op_args for t in concrete] == [[1], [2, 3]]
    assert concrete[1].retries == 2 and concrete[1].python_callable is consume


def test_bash_operator_partial_expand():
    with DAG("map_bash") as d:
        op = BashOperator.partial(task_id="sh", env={"A": "1"}).expand(
            bash_command=["echo a", "echo b"])
    concrete = instances(op)
    assert all(type(t) is BashOperator for t in concrete)
    assert [t.bash_command for t in concrete] == ["echo a", "echo b"]
    assert concrete[0].env == {"A": "1"} and concrete[1].map_index == 1
    assert concrete[1].dag is d and op.template_fields == BashOperator.template_fields


def test_expand_over_an_upstream_output_is_known_only_at_run_time():
    with DAG("map_runtime") as d:
        rows = produce()
        op = consume.partial(y=1).expand(x=rows).operator
    assert op.expands_at_runtime() and op.literal_count() is None
    assert op.upstream_task_ids == {"produce"}
    assert [ref.task_id for ref in op.upstream_refs()] == ["produce"]
    resolved = op.unmap(2, {"x": [5, 6, 7]}, op.partial_kwargs)
    assert resolved.op_kwargs == {"y": 1, "x": 7}
    assert d.structure()["tasks"]["consume"]["mapped"] is True


def test_mapped_count_and_values_for_directly():
    resolved = {"a": [1, 2, 3], "b": {"k": "v", "l": "w"}}
    assert mapped_count(resolved, "product") == 6
    assert values_for(4, resolved, "product") == {"a": 3, "b": ("k", "v")}
    assert mapped_count({"": [{"a": 1}]}, "list") == 1


def test_mapped_task_takes_default_args_and_group_prefix():
    with DAG("map_defaults", default_args={"retries": 3}):
        with TaskGroup("g"):
            op = BashOperator.partial(task_id="sh").expand(bash_command=["a"])
    assert op.task_id == "g.sh" and op.retries == 3


INVALID_EXPANDS = [
    (lambda: consume.expand(z=[1]), "'z'"),
    (lambda: consume.expand(x=1), "x=1"),
    (lambda: consume.expand(x="abc"), "x='abc'"),
    (lambda: consume.expand(), "at least one"),
    (lambda: consume.partial(y=1).expand(y=[2]), "both partial() and expand()"),
    (lambda: consume.expand_kwargs([1, 2]), "expand_kwargs"),
    (lambda: BashOperator.partial(task_id="b").expand(nope=["x"]), "'nope'"),
    (lambda: BashOperator.partial(task_id="b").expand(task_id=["x"]), "'task_id'"),
    (lambda: BashOperator.partial(task_id="b", bash_cmd="x").expand(env=[{}]), "bash_cmd"),
    (lambda: BashOperator.partial(task_id="b", env={}).expand(env=[{}]), "both"),
]


@pytest.mark.parametrize(("build", "named"), INVALID_EXPANDS,
                         ids=[n for _, n in INVALID_EXPANDS])
def test_invalid_expand_names_dag_and_task(build, named):
    with pytest.raises(DagDefinitionError) as err, DAG("bad_map"):
        build()
    assert "'bad_map'" in str(err.value) and named in str(err.value)


def test_partial_needs_a_task_id():
    with pytest.raises(DagDefinitionError, match="needs a task_id"):
        BashOperator.partial(bash_command="x")


# -- pickling -------------------------------------------------------------------------
def _pipeline(n: int) -> DAG:
    with DAG(f"pickled_{n}") as d:
        prev = produce()
        for _ in range(n):
            prev = consume(prev)
        consume.expand(x=prev)
        BashOperator(task_id="sh", bash_command="echo") << prev
    return d


@pytest.mark.parametrize("task_id", ["consume", "sh"])
def test_pickled_task_does_not_carry_the_dag(task_id):
    small, large = _pipeline(3), _pipeline(300)
    sizes = [len(cloudpickle.dumps(d.get_task(task_id))) for d in (small, large)]
    assert abs(sizes[0] - sizes[1]) < 100, sizes
    copy = cloudpickle.loads(cloudpickle.dumps(large.get_task(task_id)))
    assert isinstance(copy.dag, DagSummary) and copy.dag.dag_id == "pickled_300"
    assert copy.task_group is None


def test_pickled_mapped_task_stays_small_and_keeps_references_by_id():
    small, large = _pipeline(3), _pipeline(300)
    mapped = [d.get_task(f"consume__{n}") for d, n in ((small, 3), (large, 300))]
    sizes = [len(cloudpickle.dumps(m)) for m in mapped]
    assert abs(sizes[0] - sizes[1]) < 100, sizes
    copy = cloudpickle.loads(cloudpickle.dumps(mapped[1]))
    ref = copy.expand_input["x"]
    assert ref.operator is None and ref.task_id == "consume__299"
