"""Operators that call a Python function.

``PythonOperator`` calls ``python_callable(*op_args, **op_kwargs)``, adding
the context entries the function asks for by name (or all of them when it
takes ``**kwargs``), as Airflow does. ``BranchPythonOperator`` follows the
task ids its function returns; ``ShortCircuitOperator`` skips what follows
when its function returns something falsy.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models.baseoperator import BaseOperator


def determine_kwargs(fn: Callable, op_kwargs: Mapping[str, Any], context: Mapping[str, Any],
                     op_args: Collection[Any] = ()) -> dict[str, Any]:
    """``op_kwargs`` plus the context entries ``fn`` can take by name.

    As in Airflow, a parameter filled by a positional argument must not share
    its name with a context entry (``run_id``, ``ds``, ...): that is an error,
    not a silent choice between the two values.
    """
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return dict(op_kwargs)
    for name in list(parameters)[:len(op_args)]:
        if name in context:
            raise ValueError(
                f"the argument {name!r} of {getattr(fn, '__name__', fn)!r} is filled from "
                f"op_args, but {name!r} is also a context variable and therefore reserved; "
                "rename the parameter or pass the value in op_kwargs"
            )
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return {**context, **op_kwargs}
    wanted = {name: context[name] for name in parameters if name in context}
    return {**wanted, **op_kwargs}


class PythonOperator(BaseOperator):
    """Call a Python function; its return value is the task's XCom."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: list[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"{self._where('python_callable')} must be callable, got {python_callable!r}"
            )
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        self.template_ext = tuple(templates_exts or ())
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: dict[str, Any]) -> Any:
        context["templates_dict"] = self.templates_dict
        kwargs = determine_kwargs(self.python_callable, self.op_kwargs, context, self.op_args)
        result = self.python_callable(*self.op_args, **kwargs)
        if self.show_return_value_in_logs:
            print(f"Done. Returned value was: {_short(result)}")
        return result


class BranchPythonOperator(PythonOperator):
    """Run only the downstream tasks whose ids the function returns; skip the others."""

    is_branch = True
    ui_color = "#fff3c4"


class ShortCircuitOperator(PythonOperator):
    """Skip what follows when the function's result is falsy.

    With ``ignore_downstream_trigger_rules=True`` (the default) every task
    downstream is skipped; with ``False`` only the direct downstream tasks
    are, and the trigger rules of the rest decide.
    """

    is_short_circuit = True
    ui_color = "#f0e4ec"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules


def _short(value: Any, limit: int = 500) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
