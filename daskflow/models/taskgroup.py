"""``TaskGroup``: a named box of tasks that can be wired as one.

Tasks created inside ``with TaskGroup("extract")`` get ids prefixed with the
group id (``extract.load``) unless ``prefix_group_id=False``. Wiring a group
attaches incoming edges to its root tasks and outgoing edges to its leaves
(roots and leaves counted inside the group), as in Airflow. ``@task_group``
turns a function into a factory of such groups.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models import _authoring_stack
from daskflow.models.dependencies import DependencyMixin
from daskflow.models.ids import plain

if TYPE_CHECKING:
    from daskflow.models.baseoperator import BaseOperator
    from daskflow.models.dag import DAG

_GROUP_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


class TaskGroup(DependencyMixin):
    """A group of tasks sharing an id prefix, default_args and wiring."""

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        add_suffix_on_collision: bool = False,
    ) -> None:
        dag = dag or (parent_group.dag if parent_group else _authoring_stack.current_dag())
        if group_id is not None and dag is None:
            raise DagDefinitionError(
                f"TaskGroup {group_id!r} must be created inside a DAG (or given dag=)"
            )
        self.dag = dag
        self._group_id = group_id = plain(group_id)
        self.prefix_group_id = prefix_group_id
        self.default_args = dict(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.children: dict[str, Any] = {}
        self.parent_group: TaskGroup | None = None
        if group_id is not None:
            # A top-level group is a child of the DAG's root group, as in Airflow.
            self.parent_group = (parent_group or _authoring_stack.current_group(dag)
                                 or dag.task_group)
            self._register(dag, add_suffix_on_collision)

    def _register(self, dag: DAG, add_suffix_on_collision: bool) -> None:
        if not isinstance(self._group_id, str) or not _GROUP_ID.match(self._group_id) \
                or len(self._group_id) > 200:
            raise DagDefinitionError(
                f"DAG {dag.dag_id!r}: invalid group_id {self._group_id!r}: use letters, digits, "
                "'_' and '-' (no '.', which separates a group from its children)"
            )
        used = dag.task_group._used_group_ids
        taken = used.union(dag.task_dict)
        if add_suffix_on_collision and self.group_id in taken:
            base, n = self._group_id, 1
            while True:
                self._group_id = f"{base}__{n}"
                if self.group_id not in taken:
                    break
                n += 1
        full_id = self.group_id
        if full_id in taken:
            raise DagDefinitionError(
                f"DAG {dag.dag_id!r}: group_id {full_id!r} is already used by another task "
                "group or task; give this TaskGroup its own id"
            )
        used.add(full_id)
        self.parent_group.children[full_id] = self

    @classmethod
    def root(cls, dag: DAG) -> TaskGroup:
        """The group without an id that holds a DAG's top-level tasks and groups."""
        group = cls(None, dag=dag)
        group._used_group_ids = set()
        return group

    @property
    def group_id(self) -> str | None:
        if self._group_id is None:
            return None
        parent = self.parent_group
        if parent is not None and parent.group_id and parent.prefix_group_id:
            return f"{parent.group_id}.{self._group_id}"
        return self._group_id

    def child_id(self, label: str) -> str:
        """The full id of a child called ``label``.

        As in Airflow, a group with ``prefix_group_id=False`` adds no prefix at all,
        not even its parents' ones.
        """
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    def add(self, task: BaseOperator) -> None:
        self.children[task.task_id] = task

    def __enter__(self) -> TaskGroup:
        _authoring_stack.push_group(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _authoring_stack.pop_group()

    def iter_tasks(self) -> list[BaseOperator]:
        tasks: list[BaseOperator] = []
        for child in self.children.values():
            tasks.extend(child.iter_tasks() if isinstance(child, TaskGroup) else [child])
        return tasks

    def _upstream_roots(self) -> list[BaseOperator]:
        members = {t.task_id for t in self.iter_tasks()}
        return [t for t in self.iter_tasks() if not (t.upstream_task_ids & members)]

    def _downstream_leaves(self) -> list[BaseOperator]:
        members = {t.task_id for t in self.iter_tasks()}
        return [t for t in self.iter_tasks() if not (t.downstream_task_ids & members)]

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


def task_group(python_callable: Callable | None = None, **group_kwargs: Any) -> Any:
    """Turn a function into a task group factory: ``@task_group``.

    Each call opens a :class:`TaskGroup` named after the function (``__1``,
    ``__2``... on repeated calls, as in Airflow) and runs the function inside
    it. The call returns what the function returns, so ``start >> body() >> end``
    wires to the task it returns; a function returning nothing gives the group.

    >>> from daskflow.models.dag import DAG
    >>> from daskflow.operators import EmptyOperator
    >>> @task_group
    ... def load():
    ...     EmptyOperator(task_id="copy")
    >>> with DAG("task_group_doc") as d:
    ...     _ = load(), load()
    >>> d.task_ids
    ['load.copy', 'load__1.copy']
    """
    if python_callable is not None:
        return _TaskGroupFactory(python_callable, group_kwargs)
    return lambda fn: _TaskGroupFactory(fn, group_kwargs)


class _TaskGroupFactory:
    def __init__(self, fn: Callable, group_kwargs: dict[str, Any]) -> None:
        if not callable(fn):
            raise DagDefinitionError(f"@task_group must decorate a function, got {fn!r}")
        self.function = fn
        self.group_kwargs = group_kwargs
        functools.update_wrapper(self, fn)

    def override(self, **group_kwargs: Any) -> _TaskGroupFactory:
        return _TaskGroupFactory(self.function, {**self.group_kwargs, **group_kwargs})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        options = {"group_id": self.function.__name__, "add_suffix_on_collision": True,
                   **self.group_kwargs}
        with TaskGroup(**options) as group:
            if not group.tooltip and self.function.__doc__:
                group.tooltip = inspect.cleandoc(self.function.__doc__)
            returned = self.function(*args, **kwargs)
        return group if returned is None else returned

    def expand(self, **_: Any) -> Any:
        raise DagDefinitionError(
            f"@task_group {self.function.__name__!r}: mapping over a task group is not "
            "supported; map the tasks inside it instead"
        )

    partial = expand_kwargs = expand
