"""PythonOperator, BranchPythonOperator and ShortCircuitOperator run in this process."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from daskflow import DAG
from daskflow.models.context import DagRunInfo, RuntimeTaskInstance, build_context
from daskflow.models.templating import render_fields
from daskflow.operators import BranchPythonOperator, PythonOperator, ShortCircuitOperator
from daskflow.operators.python import determine_kwargs


def context_for(task) -> dict:
    run = DagRunInfo(dag_id=task.dag_id, run_id="manual__py",
                     logical_date=datetime(2024, 7, 8, tzinfo=timezone.utc),
                     data_interval_start=datetime(2024, 7, 7, tzinfo=timezone.utc),
                     data_interval_end=datetime(2024, 7, 8, tzinfo=timezone.utc),
                     conf={"c": 1})
    ti = RuntimeTaskInstance(task=task, run=run, try_number=1, max_tries=0)
    return build_context(task, run, ti, dag=task.dag)


def execute(task):
    context = context_for(task)
    render_fields(task, context)
    return task.execute(context)


def test_op_args_and_op_kwargs():
    def combine(a, b, *, sep):
        return f"{a}{sep}{b}"

    with DAG("py_args"):
        op = PythonOperator(task_id="p", python_callable=combine, op_args=["x", "y"],
                            op_kwargs={"sep": "-"})
    assert execute(op) == "x-y"


def test_context_entries_injected_by_parameter_name():
    seen = {}

    def wants(value, ds, ti, params, run_id):
        seen.update(value=value, ds=ds, ti=ti, params=params, run_id=run_id)

    with DAG("py_by_name", params={"p": 2}):
        op = PythonOperator(task_id="p", python_callable=wants, op_args=[5])
    execute(op)
    assert seen["value"] == 5 and seen["ds"] == "2024-07-08"
    assert seen["ti"].task_id == "p" and seen["run_id"] == "manual__py"
    assert seen["params"] == {"p": 2, "c": 1}


def test_only_named_context_entries_are_passed_without_var_keyword():
    def only_ds(ds):
        return ds

    with DAG("py_only"):
        op = PythonOperator(task_id="p", python_callable=only_ds)
    assert execute(op) == "2024-07-08"


def test_whole_context_through_var_keyword():
    def everything(x, **context):
        return x, sorted(context)

    with DAG("py_kwargs"):
        op = PythonOperator(task_id="p", python_callable=everything, op_kwargs={"x": 1})
    x, keys = execute(op)
    assert x == 1
    assert {"ds", "ti", "task_instance", "params", "dag_run", "logical_date", "macros",
            "templates_dict"} <= set(keys)
    assert "x" not in keys


def test_op_kwargs_win_over_context_entries_of_the_same_name():
    def echo(ds):
        return ds

    with DAG("py_override"):
        op = PythonOperator(task_id="p", python_callable=echo, op_kwargs={"ds": "mine"})
    assert execute(op) == "mine"


def test_templates_dict_is_rendered_and_passed():
    def use(templates_dict):
        return templates_dict["day"]

    with DAG("py_templates_dict"):
        op = PythonOperator(task_id="p", python_callable=use,
                            templates_dict={"day": "{{ ds_nodash }}"})
    assert execute(op) == "20240708"


def test_templated_op_args_reach_the_function():
    with DAG("py_templated_args"):
        op = PythonOperator(task_id="p", python_callable=lambda a, b: (a, b),
                            op_args=["{{ ds }}", {"k": "{{ dag_run.conf.c }}"}])
    assert execute(op) == ("2024-07-08", {"k": "1"})


def test_return_value_is_logged(capsys):
    with DAG("py_log"):
        shown = PythonOperator(task_id="shown", python_callable=lambda: {"n": 1})
        hidden = PythonOperator(task_id="hidden", python_callable=lambda: "secret",
                                show_return_value_in_logs=False)
    execute(shown)
    execute(hidden)
    out = capsys.readouterr().out
    assert "Done. Returned value was: {'n': 1}" in out and "secret" not in out


def test_exceptions_from_the_function_propagate():
    def broken():
        raise KeyError("missing")

    with DAG("py_raise"):
        op = PythonOperator(task_id="p", python_callable=broken)
    with pytest.raises(KeyError, match="missing"):
        execute(op)


def test_determine_kwargs_with_builtins_without_signature():
    # dict has no inspectable signature: only op_kwargs are passed
    assert determine_kwargs(dict, {"a": 1}, {"ds": "x"}) == {"a": 1}
    assert determine_kwargs(lambda ds, ti=None: None, {}, {"ds": 1, "ti": 2, "x": 3}) == {
        "ds": 1, "ti": 2}


def test_branch_and_short_circuit_operator_attributes():
    with DAG("py_kinds"):
        branch = BranchPythonOperator(task_id="b", python_callable=lambda: ["x"])
        gate = ShortCircuitOperator(task_id="s", python_callable=lambda: 0)
        direct = ShortCircuitOperator(task_id="d", python_callable=lambda: 0,
                                      ignore_downstream_trigger_rules=False)
        plain = PythonOperator(task_id="p", python_callable=lambda: None)
    assert branch.is_branch and not branch.is_short_circuit
    assert gate.is_short_circuit and gate.ignore_downstream_trigger_rules is True
    assert direct.ignore_downstream_trigger_rules is False
    assert not plain.is_branch and not plain.is_short_circuit
    assert execute(branch) == ["x"] and execute(gate) == 0
