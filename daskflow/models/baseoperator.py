"""``BaseOperator``: one task of a DAG, and the scheduling settings it carries.

An operator is a description, not a process: it holds what to run
(``execute``) and how (retries, timeout, trigger rule, pool, Dask worker
resources). The execution layer turns it into one Dask key per run. Edges are
stored as task ids on both ends; the DAG owns the tasks.

``default_args`` of the DAG (and of enclosing task groups) fill every
constructor argument the caller did not pass, for the class and all its
bases, exactly as in Airflow.

>>> from daskflow.models.dag import DAG
>>> with DAG("docs_example") as dag:
...     a = BaseOperator(task_id="a", retries=2)
...     b = BaseOperator(task_id="b")
...     _ = a >> b
>>> sorted(b.upstream_task_ids), a.retries
(['a'], 2)
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from daskflow.exceptions import (
    DagDefinitionError,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskDeferred,
)
from daskflow.models import _authoring_stack
from daskflow.models.dependencies import DependencyMixin
from daskflow.models.ids import plain
from daskflow.models.trigger_rules import TriggerRule

if TYPE_CHECKING:
    from daskflow.models.dag import DAG
    from daskflow.models.taskgroup import TaskGroup
    from daskflow.models.xcom_arg import XComArg

_TASK_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_MAX_RETRY_DELAY = timedelta(hours=24)
_WEIGHT_RULES = ("downstream", "upstream", "absolute")
#: Airflow 3 task settings that change how a task runs and that daskflow lacks.
_AIRFLOW_ONLY = frozenset({
    "executor", "ignore_first_depends_on_past", "wait_for_past_depends_before_skipping",
    "run_as_user", "pre_execute", "post_execute", "retry_policy", "map_index_template",
    "logger_name", "render_template_as_native_obj"})
#: Airflow's default ``queue`` (its ``[operators] default_queue``): the only one accepted.
DEFAULT_QUEUE = "default"
#: The method a deferred task resumes in when its trigger failed or timed out (Airflow's).
FAIL_METHOD = "__fail__"
_NO_ASSETS = ("daskflow has no assets or lineage: a task's inlets and outlets would change "
              "nothing")


@functools.cache
def _accepted_params(cls: type) -> frozenset[str]:
    """Constructor parameter names of ``cls`` and its bases, for default_args."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        init = getattr(init, "__wrapped__", init)
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
                names.add(param.name)
    names.discard("self")
    return frozenset(names)


def _with_default_args(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_defaults_applied", False):
            return init(self, *args, **kwargs)
        self._defaults_applied = True
        dag = kwargs.get("dag") or _authoring_stack.current_dag()
        group = kwargs.get("task_group") or (dag and _authoring_stack.current_group(dag))
        defaults = merged_default_args(dag, group, kwargs.pop("default_args", None))
        accepted = _accepted_params(type(self))
        _refuse_airflow_only(defaults, accepted, kwargs.get("task_id", "?"), dag)
        for name, value in defaults.items():
            if name in accepted and name not in kwargs:
                kwargs[name] = value
        try:
            init(self, *args, **kwargs)
            self._wire_xcom_args()
        except TypeError as exc:
            task_id = kwargs.get("task_id", "?")
            dag_id = getattr(dag, "dag_id", None)
            raise DagDefinitionError(
                f"task {task_id!r}" + (f" in DAG {dag_id!r}" if dag_id else "")
                + f": {type(self).__name__}: {exc}"
            ) from None

    return wrapper


def _refuse_airflow_only(defaults: dict, accepted: frozenset[str], task_id: Any,
                        dag: DAG | None) -> None:
    """An Airflow task setting in default_args that daskflow lacks is an error, not dropped.

    Passed to an operator directly it is an unknown argument; through
    default_args, which may hold arguments of other operators, it would
    otherwise be left out without a word.
    """
    unsupported = sorted(set(defaults) & _AIRFLOW_ONLY - accepted)
    if unsupported:
        in_dag = f" in DAG {dag.dag_id!r}" if dag is not None else ""
        raise DagDefinitionError(
            f"task {task_id!r}{in_dag}: default_args sets {unsupported[0]!r}, an Airflow task "
            "setting daskflow does not support (docs/airflow-differences.md); remove it")


def _parse_retries(retries: Any) -> Any:
    """``None`` means 0 and an integer string is read as its number, as in Airflow."""
    if retries is None:
        return 0
    if isinstance(retries, str):
        try:
            return int(retries)
        except ValueError:
            return retries
    return retries


def merged_default_args(dag: DAG | None, group: TaskGroup | None, own: dict | None) -> dict:
    """default_args as a task sees them: the DAG's, then each enclosing group's, then its own."""
    merged: dict[str, Any] = dict(getattr(dag, "default_args", None) or {})
    chain_of_groups = []
    while group is not None:
        chain_of_groups.append(group)
        group = group.parent_group
    for g in reversed(chain_of_groups):
        merged.update(g.default_args or {})
    merged.update(own or {})
    return merged


class BaseOperator(DependencyMixin):
    """Base class of every task; subclasses implement :meth:`execute`."""

    #: Attribute names rendered with Jinja before ``execute`` runs.
    template_fields: ClassVar[Sequence[str]] = ()
    #: A templated string ending in one of these is read from a file first.
    template_ext: ClassVar[Sequence[str]] = ()
    #: Set by branch operators: ``execute`` returns the task ids to follow.
    is_branch: ClassVar[bool] = False
    #: Set by short-circuit operators: a falsy result skips what follows.
    is_short_circuit: ClassVar[bool] = False
    ui_color: ClassVar[str] = "#fff"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _with_default_args(cls.__dict__["__init__"])

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = "daskflow",
        email: str | Sequence[str] | None = None,
        email_on_failure: bool = True,
        email_on_retry: bool = True,
        retries: int | None = 0,
        retry_delay: timedelta | float = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        task_group: TaskGroup | None = None,
        params: dict | None = None,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        pool: str | None = None,
        pool_slots: int = 1,
        execution_timeout: timedelta | float | None = None,
        trigger_rule: TriggerRule | str = TriggerRule.ALL_SUCCESS,
        resources: dict[str, float] | None = None,
        queue: str | None = "default",
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        doc_md: str | None = None,
        doc: str | None = None,
        task_display_name: str | None = None,
        executor_config: dict | None = None,
        inlets: Any = None,
        outlets: Any = None,
        on_execute_callback: Callable | Sequence[Callable] | None = None,
        on_failure_callback: Callable | Sequence[Callable] | None = None,
        on_success_callback: Callable | Sequence[Callable] | None = None,
        on_retry_callback: Callable | Sequence[Callable] | None = None,
        on_skipped_callback: Callable | Sequence[Callable] | None = None,
        **kwargs: Any,
    ) -> None:
        dag = dag or _authoring_stack.current_dag()
        group = task_group or (dag and _authoring_stack.current_group(dag))
        task_id, pool = plain(task_id), plain(pool)
        self._check_task_id(task_id, dag)
        self._dag_hint = dag.dag_id if dag is not None else None
        if kwargs:
            in_dag = f" in DAG {dag.dag_id!r}" if dag is not None else ""
            raise DagDefinitionError(
                f"task {task_id!r}{in_dag}: {type(self).__name__} got unknown arguments "
                f"{sorted(kwargs)}; check their spelling against the operator's documentation"
            )
        self.task_id = group.child_id(task_id) if group is not None else task_id
        self.owner = owner
        self.email = email
        self.email_on_failure = email_on_failure
        self.email_on_retry = email_on_retry
        self.retries = self._check_count("retries", _parse_retries(retries))
        self.retry_delay = self._as_delta("retry_delay", retry_delay)
        self.retry_exponential_backoff = bool(retry_exponential_backoff)
        self.max_retry_delay = self._as_delta("max_retry_delay", max_retry_delay, allow_none=True)
        self.start_date = self._as_datetime("start_date", start_date)
        self.end_date = self._as_datetime("end_date", end_date)
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise DagDefinitionError(f"{self._where('end_date')} {self.end_date} is before "
                                     f"start_date {self.start_date}")
        self.wait_for_downstream = bool(wait_for_downstream)
        # As in Airflow, waiting for the previous run's downstream tasks implies
        # waiting for the previous run's instance of this task.
        self.depends_on_past = bool(depends_on_past) or self.wait_for_downstream
        self.params = dict(params or {})
        self.priority_weight = self._check_int("priority_weight", priority_weight)
        self.weight_rule = self._check_weight_rule(weight_rule)
        self.pool = pool or "default_pool"
        self.pool_slots = self._check_count("pool_slots", pool_slots, minimum=1)
        self.execution_timeout = self._as_delta(
            "execution_timeout", execution_timeout, allow_none=True
        )
        self.trigger_rule = self._check_trigger_rule(trigger_rule)
        self.resources = self._check_resources(resources)
        self.queue = self._check_queue(queue)
        self.max_active_tis_per_dag = self._check_limit("max_active_tis_per_dag",
                                                        max_active_tis_per_dag)
        self.max_active_tis_per_dagrun = self._check_limit("max_active_tis_per_dagrun",
                                                           max_active_tis_per_dagrun)
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.doc_md = doc_md
        self.doc = doc
        self.task_display_name = plain(task_display_name) or task_id
        self._refuse_if_set("executor_config", executor_config,
                            "it configures an Airflow executor, and daskflow runs every task "
                            "on the Dask cluster; place tasks with resources={'NAME': amount} "
                            "(Dask worker resources)")
        self._refuse_if_set("inlets", inlets, _NO_ASSETS)
        self._refuse_if_set("outlets", outlets, _NO_ASSETS)
        self.executor_config: dict[str, Any] = {}
        self.inlets: list[Any] = []
        self.outlets: list[Any] = []
        self.on_execute_callback = self._check_callbacks("on_execute_callback", on_execute_callback)
        self.on_failure_callback = self._check_callbacks("on_failure_callback", on_failure_callback)
        self.on_success_callback = self._check_callbacks("on_success_callback", on_success_callback)
        self.on_retry_callback = self._check_callbacks("on_retry_callback", on_retry_callback)
        self.on_skipped_callback = self._check_callbacks("on_skipped_callback", on_skipped_callback)
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.dag: DAG | None = None
        self.task_group = group
        if dag is not None:
            dag.add_task(self)
        if group is not None:
            group.add(self)

    # -- what subclasses implement -------------------------------------------------
    def execute(self, context: dict[str, Any]) -> Any:
        """Do the task's work; the return value becomes its XCom ``return_value``."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def on_kill(self) -> None:
        """Stop what ``execute`` started (processes, queries) when the task times out."""

    # -- deferring ----------------------------------------------------------------
    def defer(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
              timeout: timedelta | float | None = None) -> NoReturn:
        """Wait for ``trigger`` without holding a worker thread, then resume in ``method_name``.

        The wait runs in the scheduler's process (docs/integrations.md, "Three
        ways of waiting"); the same try resumes on a worker with
        ``method_name(context, event=<the event's payload>, **kwargs)``.
        """
        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs,
                           timeout=timeout)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None,
                         context: dict[str, Any]) -> Any:
        """Go on after a deferral: call ``next_method``, or fail as the loop said."""
        next_kwargs = dict(next_kwargs or {})
        if next_method == FAIL_METHOD:
            error = next_kwargs.get("error") or "the trigger failed"
            if next_kwargs.get("timeout"):
                raise TaskDeferralTimeout(error)
            raise TaskDeferralError(error)
        method = getattr(self, next_method, None)
        if not callable(method):
            raise TaskDeferralError(
                f"task {self.task_id!r}: cannot resume in {next_method!r}: "
                f"{type(self).__name__} has no such method")
        return method(context, **next_kwargs)

    # -- graph --------------------------------------------------------------------
    @property
    def dag_id(self) -> str | None:
        return self.dag.dag_id if self.dag is not None else None

    @property
    def output(self) -> XComArg:
        """This task's return value, to pass to another task's arguments."""
        from daskflow.models.xcom_arg import XComArg

        return XComArg(self)

    @property
    def is_mapped(self) -> bool:
        return False

    @property
    def upstream_list(self) -> list[BaseOperator]:
        return [self._require_dag().task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        return [self._require_dag().task_dict[t] for t in sorted(self.downstream_task_ids)]

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        return set(self.upstream_task_ids if upstream else self.downstream_task_ids)

    def _upstream_roots(self) -> list[BaseOperator]:
        return [self]

    def _downstream_leaves(self) -> list[BaseOperator]:
        return [self]

    def _add_edge_to(self, other: BaseOperator) -> None:
        if self is other:
            raise DagDefinitionError(f"{self._where('')}cannot depend on itself")
        if self.dag is None and other.dag is None:
            raise DagDefinitionError(
                f"cannot wire {self.task_id!r} >> {other.task_id!r}: neither task belongs to a "
                "DAG yet; create them inside `with DAG(...)` or pass dag="
            )
        if self.dag is not None and other.dag is not None and self.dag is not other.dag:
            raise DagDefinitionError(
                f"cannot wire task {self.task_id!r} of DAG {self.dag.dag_id!r} to task "
                f"{other.task_id!r} of DAG {other.dag.dag_id!r}: tasks of different DAGs "
                "cannot depend on each other (use an ExternalTaskSensor)"
            )
        dag = self.dag or other.dag
        for task in (self, other):
            if task.dag is None:
                dag.add_task(task)
        self.downstream_task_ids.add(other.task_id)
        other.upstream_task_ids.add(self.task_id)

    def _wire_xcom_args(self) -> None:
        """Make the tasks whose outputs this task's arguments use its upstream."""
        from daskflow.models.xcom_arg import find_refs

        for name in (*self.template_fields, "op_args", "op_kwargs"):
            for ref in find_refs(getattr(self, name, None)):
                ref.operator._add_edge_to(self)

    def _require_dag(self) -> DAG:
        if self.dag is None:
            raise DagDefinitionError(f"task {self.task_id!r} is not assigned to a DAG")
        return self.dag

    # -- retries ------------------------------------------------------------------
    def retry_delay_for(self, try_number: int) -> timedelta:
        """How long to wait before try ``try_number + 1`` after try ``try_number`` failed.

        With exponential backoff the delay doubles per try, capped by
        ``max_retry_delay`` (24 hours when unset), as in Airflow.

        >>> op = BaseOperator(task_id="t", retry_delay=10, retry_exponential_backoff=True)
        >>> [op.retry_delay_for(n).total_seconds() for n in (1, 2, 3)]
        [10.0, 20.0, 40.0]
        """
        if not self.retry_exponential_backoff:
            return self.retry_delay
        seconds = self.retry_delay.total_seconds() * math.pow(2, max(try_number - 1, 0))
        cap = self.max_retry_delay or _MAX_RETRY_DELAY
        return min(timedelta(seconds=seconds), cap)

    # -- rendering ----------------------------------------------------------------
    def render_template_fields(self, context: dict[str, Any], env: Any = None) -> None:
        """Render every ``template_fields`` attribute in place with ``context``."""
        from daskflow.models.templating import render_fields

        render_fields(self, context, env)

    # -- mapping ------------------------------------------------------------------
    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Fix the arguments shared by every mapped instance: ``Op.partial(...).expand(...)``."""
        from daskflow.models.mapping import OperatorPartial

        return OperatorPartial(cls, kwargs)

    # -- pickling -----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # A task travels to Dask workers on its own: its DAG and group stay behind,
        # replaced by a small summary, so a run of 1,000 tasks does not ship the
        # whole DAG 1,000 times.
        state = dict(self.__dict__)
        dag = state.pop("dag", None)
        state.pop("task_group", None)
        state["dag"] = dag.summary() if hasattr(dag, "summary") else dag
        state["task_group"] = None
        return state

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"

    # -- validation helpers -------------------------------------------------------
    def _where(self, name: str) -> str:
        dag_id = getattr(self, "_dag_hint", None)
        in_dag = f" in DAG {dag_id!r}" if dag_id else ""
        return f"task {getattr(self, 'task_id', '?')!r}{in_dag}: {name}"

    @staticmethod
    def _check_task_id(task_id: Any, dag: DAG | None) -> None:
        where = f" in DAG {dag.dag_id!r}" if dag is not None else ""
        if not isinstance(task_id, str) or not _TASK_ID.match(task_id) or len(task_id) > 250:
            raise DagDefinitionError(
                f"invalid task_id {task_id!r}{where}: use letters, digits, '_', '-' and '.' "
                "(at most 250 characters)"
            )

    def _check_count(self, name: str, value: Any, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise DagDefinitionError(
                f"{self._where(name)} must be an integer >= {minimum}, got {value!r}"
            )
        return value

    def _check_int(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DagDefinitionError(f"{self._where(name)} must be an integer, got {value!r}")
        return value

    def _as_delta(self, name: str, value: Any, allow_none: bool = False) -> timedelta | None:
        if value is None and allow_none:
            return None
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            raise DagDefinitionError(
                f"{self._where(name)} must be a timedelta or a number of seconds, "
                f"got {value!r}"
            )
        if seconds < 0:
            raise DagDefinitionError(f"{self._where(name)} must not be negative: {value!r}")
        return timedelta(seconds=seconds)

    def _as_datetime(self, name: str, value: Any) -> datetime | None:
        """A timezone-aware datetime (naive means UTC, as for the DAG's dates) or None."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise DagDefinitionError(f"{self._where(name)} must be a datetime, got {value!r}")
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)

    def _check_limit(self, name: str, value: Any) -> int | None:
        if value is None:
            return None
        return self._check_count(name, value, minimum=1)

    def _check_queue(self, queue: Any) -> str:
        """Only Airflow's default queue: daskflow has no executor queues to route to."""
        if queue is None or queue == DEFAULT_QUEUE:
            return DEFAULT_QUEUE
        raise DagDefinitionError(
            f"{self._where('queue')} {queue!r} is not supported: daskflow has no executor "
            "queues, every task runs on the Dask cluster. To send the task to some workers, "
            f"give it Dask worker resources, e.g. resources={{{str(queue)!r}: 1}}, and start "
            f"those workers with `dask worker --resources \"{queue}=N\"`")

    def _refuse_if_set(self, name: str, value: Any, why: str) -> None:
        """Refuse a setting daskflow cannot honour; empty (Airflow's default) is fine."""
        if value is None or (isinstance(value, (dict, list, tuple, set)) and not value):
            return
        raise DagDefinitionError(f"{self._where(name)} is not supported ({why}); got {value!r}")

    def _check_trigger_rule(self, rule: Any) -> TriggerRule:
        if not TriggerRule.is_valid(rule):
            allowed = ", ".join(r.value for r in TriggerRule)
            raise DagDefinitionError(
                f"{self._where('trigger_rule')} {rule!r} is not a trigger rule; "
                f"use one of: {allowed}"
            )
        return TriggerRule(rule)

    def _check_weight_rule(self, rule: Any) -> str:
        value = getattr(rule, "value", rule)  # Airflow's WeightRule enum or its string
        if value not in _WEIGHT_RULES:
            raise DagDefinitionError(
                f"{self._where('weight_rule')} {rule!r} is not a weight rule; use one of: "
                f"{', '.join(_WEIGHT_RULES)}"
            )
        return value

    def _check_resources(self, resources: Any) -> dict[str, float]:
        if resources is None:
            return {}
        if not isinstance(resources, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) for k, v in resources.items()
        ):
            raise DagDefinitionError(
                f"{self._where('resources')} must be a dict of Dask worker resource "
                f"names to amounts, e.g. {{'GPU': 1}}; got {resources!r}"
            )
        return dict(resources)

    def _check_callbacks(self, name: str, value: Any) -> list[Callable]:
        if value is None:
            return []
        callbacks = list(value) if isinstance(value, (list, tuple)) else [value]
        for cb in callbacks:
            if not callable(cb):
                raise DagDefinitionError(
                    f"{self._where(name)} must be callable (or a list of callables), "
                    f"got {cb!r}"
                )
        return callbacks


# Subclasses get this through __init_subclass__; BaseOperator itself (and subclasses
# without their own __init__, such as EmptyOperator) need it applied here.
BaseOperator.__init__ = _with_default_args(BaseOperator.__init__)  # type: ignore[method-assign]
