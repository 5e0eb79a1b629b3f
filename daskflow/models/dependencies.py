"""The ``>>`` / ``<<`` wiring shared by tasks, task groups and task outputs.

Anything that can sit on either side of ``>>`` implements two methods,
``_upstream_roots()`` (the tasks an incoming edge attaches to) and
``_downstream_leaves()`` (the tasks an outgoing edge leaves from); this mixin
turns them into the operators Airflow users write. Lists work on either side
(``[a, b] >> c``) through the reflected operators.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daskflow.models.baseoperator import BaseOperator


class DependencyMixin:
    """Gives ``>>``, ``<<``, ``set_upstream`` and ``set_downstream``."""

    def _upstream_roots(self) -> list[BaseOperator]:
        raise NotImplementedError

    def _downstream_leaves(self) -> list[BaseOperator]:
        raise NotImplementedError

    def set_downstream(self, other: Any) -> None:
        for target in _flatten(other):
            for src in self._downstream_leaves():
                for dst in target._upstream_roots():
                    src._add_edge_to(dst)

    def set_upstream(self, other: Any) -> None:
        for source in _flatten(other):
            source.set_downstream(self)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        # [a, b] << self
        self.set_downstream(other)
        return self


def _flatten(items: Any) -> list[DependencyMixin]:
    if isinstance(items, DependencyMixin):
        return [items]
    if isinstance(items, Iterable) and not isinstance(items, (str, bytes, dict)):
        flat: list[DependencyMixin] = []
        for item in items:
            flat.extend(_flatten(item))
        return flat
    from daskflow.exceptions import DagDefinitionError

    raise DagDefinitionError(
        f"cannot set a dependency on {items!r} ({type(items).__name__}): "
        "only tasks, task groups, task outputs and lists of them can be wired with >> and <<"
    )


def chain(*elements: Any) -> None:
    """Wire elements one after another: ``chain(a, [b, c], d)``.

    Two neighbouring lists must have the same length and are wired pairwise,
    as in Airflow.
    """
    for left, right in zip(elements, elements[1:], strict=False):
        left_is_list = isinstance(left, Sequence) and not isinstance(left, str)
        right_is_list = isinstance(right, Sequence) and not isinstance(right, str)
        if left_is_list and right_is_list:
            if len(left) != len(right):
                from daskflow.exceptions import DagDefinitionError

                raise DagDefinitionError(
                    f"chain() got neighbouring lists of different lengths "
                    f"({len(left)} and {len(right)}); pairwise wiring needs equal lengths"
                )
            for a, b in zip(left, right, strict=True):
                a >> b
        elif left_is_list:
            for a in left:
                a >> right
        else:
            left >> right


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Any) -> None:
    """Make every task in ``to_tasks`` downstream of every task in ``from_tasks``."""
    for task in from_tasks:
        task.set_downstream(to_tasks)
