"""The template context and Jinja rendering of template fields, as a task sees them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jinja2
import pytest

from daskflow import DAG, get_current_context
from daskflow.exceptions import TemplateError
from daskflow.models.context import (
    CONTEXT_KEYS,
    DagRunInfo,
    RuntimeTaskInstance,
    build_context,
    reset_current_context,
    set_current_context,
)
from daskflow.models.templating import render_fields
from daskflow.operators import BashOperator, PythonOperator

LOGICAL = datetime(2024, 3, 5, 6, 7, 8, tzinfo=timezone.utc)


def run_info(dag_id: str, conf: dict | None = None) -> DagRunInfo:
    return DagRunInfo(
        dag_id=dag_id, run_id="scheduled__2024-03-05", logical_date=LOGICAL,
        data_interval_start=LOGICAL - timedelta(days=1), data_interval_end=LOGICAL,
        run_type="scheduled", conf=conf or {},
    )


def context_for(task, conf: dict | None = None, summary: bool = True) -> dict:
    """The context the node builds: the task's DAG travels as its summary."""
    run = run_info(task.dag_id, conf)
    ti = RuntimeTaskInstance(task=task, run=run, try_number=1, max_tries=task.retries)
    dag = task.dag.summary() if summary else task.dag
    return build_context(task, run, ti, dag=dag)


def render(task, conf: dict | None = None) -> dict:
    return render_fields(task, context_for(task, conf))


def noop(*args, **kwargs) -> None:
    return None


# -- the context ---------------------------------------------------------------------
def test_context_keys_and_date_values():
    with DAG("ctx", params={"a": 1}) as d:
        t = BashOperator(task_id="t", bash_command="true")
    ctx = context_for(t)
    assert set(ctx) <= CONTEXT_KEYS
    assert ctx["ds"] == "2024-03-05" and ctx["ds_nodash"] == "20240305"
    assert ctx["ts"] == "2024-03-05T06:07:08+00:00" and ctx["ts_nodash"] == "20240305T060708"
    assert ctx["ts_nodash_with_tz"] == "20240305T060708+0000"
    assert ctx["logical_date"] == LOGICAL
    assert ctx["data_interval_start"] == LOGICAL - timedelta(days=1)
    assert ctx["data_interval_end"] == LOGICAL
    assert ctx["run_id"] == "scheduled__2024-03-05"
    assert ctx["dag"].dag_id == "ctx" and ctx["task"] is t
    assert ctx["ti"] is ctx["task_instance"] and ctx["ti"].try_number == 1
    assert ctx["ti"].task_id == "t" and ctx["ti"].map_index == -1
    assert ctx["dag_run"].run_type == "scheduled"
    assert ctx["task_instance_key_str"] == "ctx__t__20240305"
    assert d.params == {"a": 1}


def test_params_merge_dag_then_task_then_run_conf():
    with DAG("ctx_params", params={"who": "dag", "only_dag": 1}):
        t = BashOperator(task_id="t", bash_command="true", params={"who": "task", "only_task": 2})
    ctx = context_for(t, conf={"who": "conf", "only_conf": 3})
    assert ctx["params"] == {"who": "conf", "only_dag": 1, "only_task": 2, "only_conf": 3}
    assert ctx["dag_run"].conf == {"who": "conf", "only_conf": 3}
    assert context_for(t)["params"]["who"] == "task"


def test_macros():
    with DAG("ctx_macros"):
        t = BashOperator(
            task_id="t",
            bash_command="{{ macros.ds_add(ds, 5) }} {{ macros.ds_add(ds, -5) }} "
                         "{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }} "
                         "{{ (macros.datetime(2024, 1, 1) + macros.timedelta(days=1)).day }}",
        )
    assert render(t)["bash_command"] == "2024-03-10 2024-02-29 05/03/2024 2"


def test_get_current_context_only_inside_a_task():
    with pytest.raises(RuntimeError, match="outside a running daskflow task"):
        get_current_context()
    with DAG("ctx_current"):
        t = BashOperator(task_id="t", bash_command="true")
    ctx = context_for(t)
    token = set_current_context(ctx)
    try:
        assert get_current_context() is ctx
    finally:
        reset_current_context(token)
    with pytest.raises(RuntimeError):
        get_current_context()


# -- rendering --------------------------------------------------------------------------
def test_bash_command_env_and_cwd_are_rendered():
    with DAG("tpl_bash", params={"target": "prod"}):
        t = BashOperator(task_id="t", bash_command="load {{ ds }} {{ params.target }}",
                         env={"DAY": "{{ ds_nodash }}", "RUN": "{{ run_id }}"},
                         cwd="/tmp/{{ dag.dag_id }}")
    rendered = render(t)
    assert t.bash_command == "load 2024-03-05 prod"
    assert t.env == {"DAY": "20240305", "RUN": "scheduled__2024-03-05"}
    assert t.cwd == "/tmp/tpl_bash"
    assert rendered["env"] == t.env


def test_python_op_args_op_kwargs_and_templates_dict_nested():
    with DAG("tpl_python"):
        t = PythonOperator(
            task_id="t", python_callable=noop,
            op_args=["{{ ds }}", ["{{ ts_nodash }}", ("{{ params.x }}", 4)]],
            op_kwargs={"when": {"start": "{{ data_interval_start.day }}", "n": 7}},
            templates_dict={"query": "select '{{ dag_run.conf.table }}'"},
        )
    render(t, conf={"x": "X", "table": "events"})
    assert t.op_args == ["2024-03-05", ["20240305T060708", ("X", 4)]]
    assert t.op_kwargs == {"when": {"start": "4", "n": 7}}
    assert t.templates_dict == {"query": "select 'events'"}


def test_fields_without_text_are_left_alone():
    marker = object()
    with DAG("tpl_none"):
        t = PythonOperator(task_id="t", python_callable=noop, op_args=[marker, 3])
    assert render(t) == {}
    assert t.op_args[0] is marker and t.templates_dict is None


def test_undefined_name_fails_naming_dag_task_and_field():
    with DAG("tpl_undefined"):
        t = BashOperator(task_id="strict", bash_command="echo {{ no_such_name }}")
    with pytest.raises(TemplateError) as err:
        render(t)
    message = str(err.value)
    assert "'strict'" in message and "'tpl_undefined'" in message
    assert "'bash_command'" in message and "no_such_name" in message


def test_template_syntax_error_is_a_template_error():
    with DAG("tpl_syntax"):
        t = BashOperator(task_id="t", bash_command="echo {{ ds ")
    with pytest.raises(TemplateError, match="TemplateSyntaxError"):
        render(t)


def test_template_undefined_can_be_relaxed_per_dag():
    with DAG("tpl_lenient", template_undefined=jinja2.Undefined):
        t = BashOperator(task_id="t", bash_command="echo [{{ no_such_name }}]")
    assert render(t)["bash_command"] == "echo []"


def test_jinja_environment_kwargs_and_do_extension():
    with DAG("tpl_env_kwargs", jinja_environment_kwargs={"trim_blocks": True}):
        t = BashOperator(task_id="t",
                         bash_command="{% set xs = [] %}{% do xs.append(ds) %}\n{{ xs[0] }}")
    assert render(t)["bash_command"] == "2024-03-05"


def test_sh_file_is_read_from_the_dag_folder(tmp_path):
    (tmp_path / "load.sh").write_text("echo {{ ds }} {{ params.n }}\n")
    with DAG("tpl_file", fileloc=str(tmp_path / "pipeline.py"), params={"n": 3}):
        t = BashOperator(task_id="t", bash_command="load.sh")
    assert render(t)["bash_command"] == "echo 2024-03-05 3\n"


def test_sh_file_is_read_from_template_searchpath(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "deep.bash").write_text("echo {{ run_id }}")
    with DAG("tpl_searchpath", fileloc=str(tmp_path / "dags" / "d.py"),
             template_searchpath=str(scripts)):
        t = BashOperator(task_id="t", bash_command="deep.bash")
    assert render(t)["bash_command"] == "echo scheduled__2024-03-05"


def test_missing_sh_file_names_the_template():
    with DAG("tpl_missing", fileloc="/nonexistent/dags/d.py"):
        t = BashOperator(task_id="t", bash_command="nowhere.sh")
    with pytest.raises(TemplateError, match="TemplateNotFound.*nowhere.sh"):
        render(t)


def test_trailing_space_after_sh_runs_the_command_as_text(tmp_path):
    # Airflow's documented way to call a script without reading it as a template.
    with DAG("tpl_space", fileloc=str(tmp_path / "d.py")):
        t = BashOperator(task_id="t", bash_command="/opt/run.sh ")
    assert render(t)["bash_command"] == "/opt/run.sh "


def test_render_template_as_native_obj_gives_python_objects():
    with DAG("tpl_native", render_template_as_native_obj=True, params={"n": 41}):
        t = PythonOperator(task_id="t", python_callable=noop,
                           op_args=["{{ [1, 2] + [3] }}", "{{ params.n + 1 }}"],
                           op_kwargs={"d": "{{ {'k': ds} }}"})
    render(t)
    assert t.op_args == [[1, 2, 3], 42]
    assert t.op_kwargs == {"d": {"k": "2024-03-05"}}


def test_without_native_rendering_values_are_strings():
    with DAG("tpl_text", params={"n": 41}):
        t = PythonOperator(task_id="t", python_callable=noop, op_args=["{{ params.n + 1 }}"])
    render(t)
    assert t.op_args == ["42"]


def test_user_defined_macros_and_filters():
    with DAG("tpl_user", user_defined_macros={"env_name": "staging", "twice": lambda s: s * 2},
             user_defined_filters={"shout": lambda s: s.upper() + "!",
                                   "ds": lambda d: "mine"}):
        t = BashOperator(task_id="t",
                         bash_command="{{ twice(env_name) | shout }} {{ logical_date | ds }}")
    assert render(t)["bash_command"] == "STAGINGSTAGING! mine"


def test_builtin_date_filters():
    with DAG("tpl_filters"):
        t = BashOperator(task_id="t", bash_command=(
            "{{ logical_date | ds }} {{ logical_date | ds_nodash }} "
            "{{ logical_date | ts_nodash }} {{ logical_date | ts_nodash_with_tz }}"))
    assert render(t)["bash_command"] == (
        "2024-03-05 20240305 20240305T060708 20240305T060708+0000")


def test_macros_of_a_redefined_dag_are_not_stale():
    # A DAG file edited and parsed again (same dag_id) must render with its new macros.
    for value in ("old", "new"):
        with DAG("tpl_redefined", user_defined_macros={"version": value}):
            t = BashOperator(task_id="t", bash_command="{{ version }}")
        assert render(t)["bash_command"] == value


def test_rendering_with_the_full_dag_matches_the_summary():
    with DAG("tpl_full", params={"p": 1}, user_defined_macros={"m": "x"}):
        t1 = BashOperator(task_id="t1", bash_command="{{ params.p }}{{ m }}{{ dag.dag_id }}")
        t2 = BashOperator(task_id="t2", bash_command="{{ params.p }}{{ m }}{{ dag.dag_id }}")
    assert render_fields(t1, context_for(t1, summary=False)) == {
        "bash_command": "1xtpl_full"}
    assert render(t2) == {"bash_command": "1xtpl_full"}
