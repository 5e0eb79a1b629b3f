"""``PythonSensor``: waits until a Python callable returns something true."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from daskflow.operators.python import determine_kwargs
from daskflow.sensors.base import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    """Pokes ``python_callable(*op_args, **op_kwargs)``; a true result (or a done
    :class:`PokeReturnValue`) ends the wait. Context variables are passed by name,
    as ``PythonOperator`` does."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")

    def __init__(self, *, python_callable: Callable, op_args: Collection[Any] | None = None,
                 op_kwargs: Mapping[str, Any] | None = None,
                 templates_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise TypeError(f"task {self.task_id!r}: python_callable must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or ())
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        context = {**context, "templates_dict": self.templates_dict}
        kwargs = determine_kwargs(self.python_callable, self.op_kwargs, context, self.op_args)
        answer = self.python_callable(*self.op_args, **kwargs)
        return answer if isinstance(answer, PokeReturnValue) else bool(answer)
