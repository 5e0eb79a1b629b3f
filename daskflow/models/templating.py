"""Jinja2 rendering of an operator's ``template_fields``.

Rendering happens inside the task's node, on the worker, just before
``execute``: the values of upstream tasks are there, and nothing has to be
rendered for tasks that never run. As in Airflow, undefined names are errors
(``StrictUndefined``), a string ending in one of the operator's
``template_ext`` is read as a template file from the DAG's folder and its
``template_searchpath``, and ``render_template_as_native_obj`` gives Python
objects instead of strings.
"""

from __future__ import annotations

import os
from typing import Any

import jinja2
import jinja2.nativetypes

from daskflow.exceptions import (
    ConnectionNotFound,
    InvalidConnection,
    TemplateError,
    VariableNotFound,
)

#: Errors of ``var``/``conn`` lookups in a template, reported with the field.
_LOOKUP_ERRORS = (ConnectionNotFound, InvalidConnection, VariableNotFound)


def environment_for(dag: Any) -> jinja2.Environment:
    """A Jinja environment for a DAG (or its summary), configured as Airflow's.

    Built afresh for each task render: it costs microseconds, and a cache keyed
    by DAG id would keep serving old macros after the DAG file changes.
    """
    fileloc = getattr(dag, "fileloc", None)
    searchpath = list(getattr(dag, "template_searchpath", ()) or ())
    if fileloc:
        searchpath.insert(0, os.path.dirname(fileloc))
    native = bool(getattr(dag, "render_template_as_native_obj", False))
    options: dict[str, Any] = {
        "undefined": getattr(dag, "template_undefined", None) or jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "keep_trailing_newline": True,
        "cache_size": 0,
        **(getattr(dag, "jinja_environment_kwargs", None) or {}),
    }
    options.setdefault("loader", jinja2.FileSystemLoader(searchpath or ["."]))
    cls = jinja2.nativetypes.NativeEnvironment if native else jinja2.Environment
    env = cls(**options)
    env.filters.update(_FILTERS)
    env.filters.update(getattr(dag, "user_defined_filters", None) or {})
    env.globals.update(getattr(dag, "user_defined_macros", None) or {})
    return env


_FILTERS = {
    "ds": lambda d: d.strftime("%Y-%m-%d"),
    "ds_nodash": lambda d: d.strftime("%Y%m%d"),
    "ts": lambda d: d.isoformat(),
    "ts_nodash": lambda d: d.strftime("%Y%m%dT%H%M%S"),
    "ts_nodash_with_tz": lambda d: d.isoformat().replace("-", "").replace(":", ""),
}


def render_fields(task: Any, context: dict[str, Any], env: jinja2.Environment | None = None
                  ) -> dict[str, Any]:
    """Render the task's template fields in place; return the rendered values."""
    rendered: dict[str, Any] = {}
    for name in task.template_fields:
        value = getattr(task, name, None)
        if not _has_text(value):
            continue
        env = env or environment_for(context.get("dag"))
        try:
            new = render_value(value, context, env, tuple(task.template_ext))
        except (jinja2.TemplateError, *_LOOKUP_ERRORS) as exc:
            dag_id = getattr(getattr(task, "dag", None), "dag_id", None)
            in_dag = f" in DAG {dag_id!r}" if dag_id else ""
            raise TemplateError(
                f"task {task.task_id!r}{in_dag}: cannot render template field {name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        setattr(task, name, new)
        rendered[name] = new
    return rendered


def render_value(value: Any, context: dict[str, Any], env: jinja2.Environment,
                 template_ext: tuple[str, ...] = ()) -> Any:
    """Render strings inside ``value`` (nested lists, tuples and dicts too)."""
    if isinstance(value, str):
        # No strip(): as in Airflow, a trailing space ("run.sh ") opts out of
        # reading the command as a template file.
        if template_ext and value.endswith(template_ext):
            return env.get_template(value).render(**context)
        return env.from_string(value).render(**context)
    if isinstance(value, list):
        return [render_value(v, context, env, template_ext) for v in value]
    if isinstance(value, tuple):
        return tuple(render_value(v, context, env, template_ext) for v in value)
    if isinstance(value, dict):
        return {k: render_value(v, context, env, template_ext) for k, v in value.items()}
    return value


def _has_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_text(v) for v in value)
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    return False
