"""References to values that exist only at run time.

``XComArg`` stands for an upstream task's return value (or one key of it)
and creates the dependency when passed to another task. ``ParamArg`` stands
for a DAG param in a ``@dag`` function body. The execution layer replaces
both with real values inside the task's node; nothing here touches data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daskflow.models.dependencies import DependencyMixin

if TYPE_CHECKING:
    from daskflow.models.baseoperator import BaseOperator

RETURN_VALUE = "return_value"


class XComArg(DependencyMixin):
    """An upstream task's output: ``extract()`` or ``extract.output["rows"]``."""

    def __init__(self, operator: BaseOperator, key: str = RETURN_VALUE) -> None:
        self.operator = operator
        self.task_id = operator.task_id
        self.key = key

    def __getstate__(self) -> dict[str, Any]:
        # Travels as a reference by id: pickling the operator would drag every
        # upstream task along with each downstream one.
        return {"operator": None, "task_id": self.task_id, "key": self.key}

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.operator, key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, XComArg) and (other.task_id, other.key) == (
            self.task_id, self.key)

    def __hash__(self) -> int:
        return hash((self.task_id, self.key))

    def __iter__(self):
        raise TypeError(
            f"the output of task {self.operator.task_id!r} is not known until it runs and "
            "cannot be iterated while the DAG is defined; pass it to another task or .expand()"
        )

    def _upstream_roots(self) -> list[BaseOperator]:
        return [self.operator]

    def _downstream_leaves(self) -> list[BaseOperator]:
        return [self.operator]

    def resolve(self, value: Any) -> Any:
        """Pick this reference's part of the upstream's return value."""
        if self.key == RETURN_VALUE:
            return value
        return value[self.key]

    def __repr__(self) -> str:
        return f"XComArg({self.task_id!r}, {self.key!r})"


class ParamArg:
    """A ``@dag`` function argument: the run's value of the DAG param ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ParamArg({self.name!r})"


def find_refs(value: Any) -> list[XComArg]:
    """Every XComArg inside a nested argument structure."""
    found: list[XComArg] = []

    def collect(ref: Any) -> Any:
        if isinstance(ref, XComArg):
            found.append(ref)
        return ref

    walk(value, collect)
    return found


def walk(value: Any, replace: Callable[[Any], Any]) -> Any:
    """Copy ``value`` with every ``XComArg``/``ParamArg`` passed through ``replace``."""
    if isinstance(value, (XComArg, ParamArg)):
        return replace(value)
    if isinstance(value, (list, tuple)):
        items = [walk(v, replace) for v in value]
        return type(value)(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: walk(v, replace) for k, v in value.items()}
    return value
