"""TaskFlow: ``@task`` functions whose return values feed other tasks.

Calling a decorated function inside a DAG creates a task and returns an
:class:`XComArg` for its return value; passing that to another decorated
function wires the dependency and, at run time, hands the value over through
Dask memory. ``f.expand(x=...)`` maps, ``f.override(task_id=...)`` changes the
task's settings, ``@task.branch`` and ``@task.short_circuit`` decide what runs
next.

>>> from daskflow.models.dag import DAG
>>> @task
... def double(x):
...     return 2 * x
>>> with DAG("taskflow_doc") as d:
...     out = double(double(1))
>>> sorted(d.task_ids), out.operator.upstream_task_ids
(['double', 'double__1'], {'double'})
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models import _authoring_stack
from daskflow.models.context import CONTEXT_KEYS
from daskflow.models.mapping import OperatorPartial
from daskflow.models.xcom_arg import XComArg
from daskflow.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from daskflow.sensors.python import PythonSensor


class _DecoratedMixin:
    """What a ``@task`` operator adds: mapped arguments go to the function."""

    @classmethod
    def merge_mapped_kwargs(cls, partial: dict[str, Any], values: dict[str, Any]) -> dict:
        op_kwargs = {**partial.get("op_kwargs", {}), **values}
        return {**partial, "op_kwargs": op_kwargs}


class DecoratedPythonOperator(_DecoratedMixin, PythonOperator):
    """The operator behind ``@task``."""


class DecoratedBranchOperator(_DecoratedMixin, BranchPythonOperator):
    """The operator behind ``@task.branch``."""


class DecoratedShortCircuitOperator(_DecoratedMixin, ShortCircuitOperator):
    """The operator behind ``@task.short_circuit``."""


class DecoratedSensorOperator(_DecoratedMixin, PythonSensor):
    """The operator behind ``@task.sensor``: the function is the poke."""


def _returns_dict(fn: Callable) -> bool:
    """Whether ``fn`` is annotated to return a mapping (``dict``, ``dict[str, int]``, ...)."""
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:  # unresolvable annotations: fall back to "no"
        return False
    origin = typing.get_origin(hint) or hint
    return isinstance(origin, type) and issubclass(origin, Mapping)


class TaskDecorator:
    """A decorated function; calling it inside a DAG creates a task."""

    def __init__(self, fn: Callable, operator_class: type[PythonOperator],
                 kwargs: dict[str, Any]) -> None:
        if not callable(fn):
            raise DagDefinitionError(f"@task must decorate a function, got {fn!r}")
        self.function = fn
        self.operator_class = operator_class
        self.kwargs = kwargs
        functools.update_wrapper(self, fn)

    def _task_id(self) -> str:
        """The task id, made unique in the current DAG with ``__1``, ``__2``... like Airflow."""
        base = self.kwargs.get("task_id") or self.function.__name__
        dag = self.kwargs.get("dag") or _authoring_stack.current_dag()
        if dag is None:
            return base
        group = _authoring_stack.current_group(dag)
        full = group.child_id(base) if group is not None else base
        if full not in dag.task_dict:
            return base
        n = 1
        while (group.child_id(f"{base}__{n}") if group else f"{base}__{n}") in dag.task_dict:
            n += 1
        return f"{base}__{n}"

    def _options(self) -> dict[str, Any]:
        options = {k: v for k, v in self.kwargs.items() if k != "task_id"}
        if "multiple_outputs" not in options:
            options["multiple_outputs"] = _returns_dict(self.function)
        return options

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        if _authoring_stack.current_dag() is None and "dag" not in self.kwargs:
            raise DagDefinitionError(
                f"@task {self.function.__name__!r} was called outside a DAG; call it inside "
                "`with DAG(...)` or a @dag function"
            )
        self._check_signature(args, kwargs)
        op = self.operator_class(task_id=self._task_id(), python_callable=self.function,
                                 op_args=args, op_kwargs=kwargs, **self._options())
        return XComArg(op)

    def override(self, **kwargs: Any) -> TaskDecorator:
        return TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> _TaskPartial:
        self._check_signature((), kwargs, partial=True)
        return _TaskPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        return self.partial().expand(**mapped)

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        return self.partial().expand_kwargs(kwargs_list)

    def _check_signature(self, args: tuple, kwargs: dict, partial: bool = False) -> None:
        """Check the call against the function's signature, as Airflow does.

        Parameters named after context entries (``ti``, ``ds``, ...) are filled
        when the task runs, so they may be left out here; a default other than
        ``None`` for them would be ambiguous and is refused.
        """
        where = _where(self.function)
        try:
            sig = inspect.signature(self.function)
        except (TypeError, ValueError):
            return  # no inspectable signature (some builtins): checked when the task runs
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        for p in sig.parameters.values():
            if p.name in CONTEXT_KEYS and p.default not in (None, p.empty):
                raise DagDefinitionError(
                    f"{where}: context parameter {p.name!r} can only default to None, "
                    f"got {p.default!r}"
                )
        params = [p.replace(default=None) if p.name in CONTEXT_KEYS and p.kind not in variadic
                  else p for p in sig.parameters.values()]
        try:
            sig = sig.replace(parameters=params)
        except ValueError as exc:
            raise DagDefinitionError(
                f"{where}: context parameters are filled when the task runs and so count as "
                f"having a default; move them after the other parameters ({exc})"
            ) from None
        try:
            (sig.bind_partial if partial else sig.bind)(*args, **kwargs)
        except TypeError as exc:
            raise DagDefinitionError(
                f"{where}: arguments do not fit its signature: {exc}"
            ) from None


def _where(fn: Callable) -> str:
    """``@task 'name' in DAG 'id'`` for error messages."""
    dag = _authoring_stack.current_dag()
    return f"@task {fn.__name__!r}" + (f" in DAG {dag.dag_id!r}" if dag is not None else "")


class _TaskPartial:
    def __init__(self, decorator: TaskDecorator, kwargs: dict[str, Any]) -> None:
        self.decorator = decorator
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> XComArg:
        return XComArg(self._partial()._build(mapped, kind="product"))

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        return XComArg(self._partial()._build({"": kwargs_list}, kind="list"))

    def _partial(self) -> OperatorPartial:
        d = self.decorator
        return _DecoratedPartial(d.operator_class, {
            "task_id": d._task_id(), "python_callable": d.function, "op_kwargs": self.kwargs,
            **d._options(),
        })


class _DecoratedPartial(OperatorPartial):
    """Partial of a ``@task``: expanded names are the function's parameters."""

    def mappable_names(self) -> frozenset[str]:
        return frozenset(inspect.signature(self.kwargs["python_callable"]).parameters)

    def fixed_names(self) -> frozenset[str]:
        return frozenset(self.kwargs["op_kwargs"])


def _decorator(operator_class: type[PythonOperator]) -> Callable:
    def decorate(python_callable: Callable | None = None, **kwargs: Any) -> Any:
        if python_callable is not None:
            return TaskDecorator(python_callable, operator_class, kwargs)
        return lambda fn: TaskDecorator(fn, operator_class, kwargs)

    return decorate


class _TaskNamespace:
    """``@task``, ``@task.python``, ``@task.branch``, ``@task.short_circuit``, ``@task.sensor``."""

    def __init__(self) -> None:
        self.python = _decorator(DecoratedPythonOperator)
        self.branch = _decorator(DecoratedBranchOperator)
        self.short_circuit = _decorator(DecoratedShortCircuitOperator)
        self.sensor = _decorator(DecoratedSensorOperator)

    def __call__(self, python_callable: Callable | None = None, **kwargs: Any) -> Any:
        return self.python(python_callable, **kwargs)


task = _TaskNamespace()
