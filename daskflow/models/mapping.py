"""Dynamic task mapping: one task definition, many task instances.

``Op.partial(shared=...).expand(x=[1, 2, 3])`` (or ``@task`` ``f.expand(...)``)
defines a :class:`MappedOperator`. Its instances are decided by the values it
is expanded over: a literal list is known when the run is planned; an
upstream task's output is known only when that task finishes, and the
execution layer grows the run's Dask graph then (docs/concepts.md).

Several keyword arguments expand as a cross product, first key slowest, as in
Airflow; a dict expands into ``(key, value)`` pairs; ``expand_kwargs`` takes a
list of keyword dicts, one per instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models import _authoring_stack
from daskflow.models.baseoperator import BaseOperator, _accepted_params, merged_default_args
from daskflow.models.xcom_arg import XComArg

#: Arguments that define the task itself and cannot differ per instance: the
#: scheduler loop reads them from the task's definition (retry timers, pools and
#: limits, priorities, worker resources, cross-run holds, which runs have the
#: task, callbacks and notifications), so a value per instance would be ignored.
_NOT_MAPPABLE = {"task_id", "dag", "task_group", "default_args", "trigger_rule", "pool",
                 "pool_slots", "retries", "retry_delay", "retry_exponential_backoff",
                 "max_retry_delay", "depends_on_past", "wait_for_downstream", "params",
                 "priority_weight", "weight_rule", "resources", "queue", "start_date",
                 "end_date", "max_active_tis_per_dag", "max_active_tis_per_dagrun",
                 "executor_config", "inlets", "outlets", "email", "email_on_failure",
                 "email_on_retry", "on_failure_callback", "on_success_callback",
                 "on_retry_callback", "on_skipped_callback"}


#: Arguments that place a task rather than configure it.
_STRUCTURAL = {"dag", "task_group", "default_args"}


class OperatorPartial:
    """The shared arguments of a mapped task, waiting for ``.expand()``."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> None:
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{operator_class.__name__}.partial() needs a task_id")
        self.operator_class = operator_class
        self.kwargs = kwargs

    def mappable_names(self) -> frozenset[str]:
        """Argument names an instance may get its own value for."""
        return _accepted_params(self.operator_class) - _NOT_MAPPABLE

    def fixed_names(self) -> frozenset[str]:
        """Argument names ``partial()`` already set, which ``expand()`` may not set again."""
        return frozenset(self.kwargs)

    def expand(self, **mapped: Any) -> MappedOperator:
        return self._build(mapped, kind="product")

    def expand_kwargs(self, kwargs_list: Sequence[Mapping[str, Any]] | XComArg) -> MappedOperator:
        return self._build({"": kwargs_list}, kind="list")

    def _build(self, expand_input: dict[str, Any], kind: str) -> MappedOperator:
        task_id = self.kwargs["task_id"]
        dag = self.kwargs.get("dag") or _authoring_stack.current_dag()
        where = f"task {task_id!r}" + (f" in DAG {dag.dag_id!r}" if dag is not None else "")
        _check_expand_input(self.operator_class.__name__, where, expand_input, kind,
                            self.mappable_names())
        unknown = set(self.kwargs) - _accepted_params(self.operator_class) - _STRUCTURAL
        if unknown:
            raise DagDefinitionError(
                f"{where}: {self.operator_class.__name__}.partial() got unknown arguments "
                f"{sorted(unknown)}"
            )
        both = sorted(set(expand_input) & self.fixed_names())
        if both:
            raise DagDefinitionError(
                f"{where}: {both} given to both partial() and expand(); set each argument once"
            )
        group = self.kwargs.get("task_group") or (dag and _authoring_stack.current_group(dag))
        own = self.kwargs.get("default_args")
        defaults = merged_default_args(dag, group, own)
        accepted = _accepted_params(self.operator_class)
        partial = {k: v for k, v in self.kwargs.items() if k not in _STRUCTURAL}
        for name, value in defaults.items():
            if name in accepted and name not in partial and name not in expand_input:
                partial[name] = value
        base_names = _accepted_params(BaseOperator)
        base_kwargs = {k: v for k, v in partial.items() if k in base_names}
        return MappedOperator(
            operator_class=self.operator_class,
            partial_kwargs=partial,
            expand_input=expand_input,
            expand_kind=kind,
            dag=dag,
            task_group=group,
            **base_kwargs,
        )


def _check_expand_input(class_name: str, where: str, expand_input: dict, kind: str,
                        accepted: frozenset[str]) -> None:
    if not expand_input:
        raise DagDefinitionError(f"{where}: expand() needs at least one argument")
    for name, value in expand_input.items():
        if kind == "product":
            if name in _NOT_MAPPABLE:
                raise DagDefinitionError(
                    f"{where}: {class_name} cannot be expanded over {name!r}: it applies to "
                    "the whole task, not per instance; pass it to partial()"
                )
            if name not in accepted:
                raise DagDefinitionError(
                    f"{where}: {class_name} cannot be expanded over {name!r}"
                )
            ok = isinstance(value, (list, tuple, dict, XComArg))
        else:
            ok = isinstance(value, XComArg) or (
                isinstance(value, (list, tuple)) and all(isinstance(v, Mapping) for v in value)
            )
            fixed = sorted({k for v in value for k in v} & _NOT_MAPPABLE) if ok and \
                not isinstance(value, XComArg) else []
            if fixed:
                raise DagDefinitionError(
                    f"{where}: {class_name} cannot be expanded over {fixed[0]!r}: it applies "
                    "to the whole task, not per instance; pass it to partial()"
                )
        if not ok:
            raise DagDefinitionError(
                f"{where}: expand() values must be lists, dicts or an upstream task's "
                f"output; {name or 'expand_kwargs'}={value!r} is not"
            )


class MappedOperator(BaseOperator):
    """A task that runs once per element of the values it is expanded over."""

    def __init__(
        self,
        *,
        operator_class: type[BaseOperator],
        partial_kwargs: dict[str, Any],
        expand_input: dict[str, Any],
        expand_kind: str = "product",
        **kwargs: Any,
    ) -> None:
        self.operator_class = operator_class
        self.partial_kwargs = partial_kwargs
        self.expand_input = expand_input
        self.expand_kind = expand_kind
        super().__init__(**kwargs)
        for ref in self.upstream_refs():
            ref.operator._add_edge_to(self)
        self.template_fields = operator_class.template_fields
        self.is_branch = operator_class.is_branch
        self.is_short_circuit = operator_class.is_short_circuit

    @property
    def is_mapped(self) -> bool:
        return True

    def upstream_refs(self) -> list[XComArg]:
        """Expanded-over outputs of upstream tasks: known only at run time."""
        from daskflow.models.xcom_arg import find_refs

        return find_refs(self.expand_input) + find_refs(self.partial_kwargs)

    def expands_at_runtime(self) -> bool:
        return any(isinstance(v, XComArg) for v in self.expand_input.values())

    def literal_count(self) -> int | None:
        """Number of instances when every expanded value is literal, else ``None``."""
        if self.expands_at_runtime():
            return None
        return mapped_count(self.expand_input, self.expand_kind)

    def unmap(self, map_index: int, resolved_input: dict[str, Any],
              resolved_partial: dict[str, Any]) -> BaseOperator:
        """The concrete operator of instance ``map_index`` (built outside any DAG)."""
        values = values_for(map_index, resolved_input, self.expand_kind)
        kwargs = self.operator_class.merge_mapped_kwargs(
            {**resolved_partial, "task_id": self.task_id}, values
        ) if hasattr(self.operator_class, "merge_mapped_kwargs") else {
            **resolved_partial, **values, "task_id": self.task_id}
        task = self.operator_class(**kwargs)
        task.upstream_task_ids = set(self.upstream_task_ids)
        task.downstream_task_ids = set(self.downstream_task_ids)
        task.dag = self.dag
        task.map_index = map_index
        return task

    def execute(self, context: dict[str, Any]) -> Any:
        raise RuntimeError(f"mapped task {self.task_id!r} runs through its instances")


def _as_items(value: Any) -> list[Any]:
    return list(value.items()) if isinstance(value, Mapping) else list(value)


def mapped_count(resolved: dict[str, Any], kind: str) -> int:
    """How many instances the fully resolved expand input gives."""
    if kind == "list":
        return len(_as_items(resolved[""]))
    count = 1
    for value in resolved.values():
        count *= len(_as_items(value))
    return count


def values_for(map_index: int, resolved: dict[str, Any], kind: str) -> dict[str, Any]:
    """The keyword arguments of instance ``map_index``: cross product, first key slowest."""
    if kind == "list":
        return dict(_as_items(resolved[""])[map_index])
    values: dict[str, Any] = {}
    remainder = map_index
    for name in reversed(list(resolved)):
        items = _as_items(resolved[name])
        remainder, position = divmod(remainder, len(items))
        values[name] = items[position]
    return {name: values[name] for name in resolved}


def resolved_copy(task: BaseOperator, map_index: int, resolve: Any) -> BaseOperator:
    """A private copy of ``task`` with every ``XComArg``/``ParamArg`` passed through ``resolve``.

    A mapped task becomes its instance ``map_index``. The copy can be rendered
    and executed without touching the DAG's own task object.
    """
    import copy

    from daskflow.models.xcom_arg import walk

    if task.is_mapped:
        task = task.unmap(map_index, walk(task.expand_input, resolve),
                          walk(task.partial_kwargs, resolve))
    else:
        task = copy.copy(task)
    for name in (*task.template_fields, "op_args", "op_kwargs"):
        if hasattr(task, name):
            setattr(task, name, walk(getattr(task, name), resolve))
    return task
