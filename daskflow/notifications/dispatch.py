"""Who hears about a failure, and delivering the notice without ever stopping the caller.

Deciding and delivering are kept apart. :func:`notices_for_task` and
:func:`notices_for_run` turn a state change into notices; :meth:`Notifier.targets_for`
is a pure function of the task (or DAG), the notice and the settings read when
the notifier was made; :meth:`Notifier.send` delivers and *reports* each
target's error instead of raising, because a broken mail server must not fail a
run or stall the scheduler loop. The loop calls :meth:`Notifier.submit` (or
:meth:`Notifier.notify`), which sends in the notifier's own small thread pool.

Who is told what, as an Airflow user expects. E-mail:

==============  =================================================================
task_failed     ``task.email``, if ``task.email_on_failure``
task_retry      ``task.email``, if ``task.email_on_retry``
run_failed      the DAG's ``default_args["email"]``, unless its ``email_on_failure``
                there is false
run_succeeded   nobody (Airflow sends no e-mail on success)
==============  =================================================================

A webhook gets the kinds listed in ``notifications.webhook-kinds``: by default
``task_failed`` and ``run_failed``, because a retry in a chat channel is noise
and a success is news to few.

The webhook URL is, first found: a ``webhook_url`` attribute of the task (no
operator takes one today; a subclass may set it), ``default_args["webhook_url"]``
of the DAG, then the ``notifications.webhook-url`` setting.

>>> from datetime import datetime, timezone
>>> from daskflow.models.baseoperator import BaseOperator
>>> from daskflow.models.dag import DAG
>>> with DAG("docs_notify") as dag:
...     task = BaseOperator(task_id="load", email="ops@example.com", email_on_retry=False)
>>> [notice] = notices_for_task(task, "up_for_retry", run_id="r1", try_number=1,
...                             logical_date=datetime(2024, 1, 1, tzinfo=timezone.utc))
>>> Notifier(NotifierSettings()).targets_for(task, notice)
[]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daskflow import config
from daskflow.models.state import DagRunState, TaskInstanceState
from daskflow.notifications.email import recipients, send_email
from daskflow.notifications.errors import NotificationError
from daskflow.notifications.message import (
    RUN_KINDS,
    TASK_KINDS,
    Notice,
    render_subject,
    render_text,
    slack_payload,
    tail,
)
from daskflow.notifications.webhook import mask_url, post_webhook

logger = logging.getLogger("daskflow.notifications")

_TASK_NOTICES = {
    TaskInstanceState.FAILED: "task_failed",
    TaskInstanceState.UP_FOR_RETRY: "task_retry",
}
_RUN_NOTICES = {DagRunState.FAILED: "run_failed", DagRunState.SUCCESS: "run_succeeded"}
_ALL_KINDS = TASK_KINDS | RUN_KINDS


# -- targets --------------------------------------------------------------------------
@dataclass(frozen=True)
class EmailTarget:
    """An e-mail to these addresses."""

    recipients: tuple[str, ...]

    def __str__(self) -> str:
        return "e-mail to " + ", ".join(self.recipients)


@dataclass(frozen=True)
class WebhookTarget:
    """A POST to this URL. Its ``repr`` and ``str`` mask the URL, which holds a token."""

    url: str

    def __repr__(self) -> str:
        return f"WebhookTarget({mask_url(self.url)!r})"

    def __str__(self) -> str:
        return f"webhook {mask_url(self.url)}"


Target = EmailTarget | WebhookTarget


# -- notices from state changes -------------------------------------------------------
def notices_for_task(
    task: Any,
    state: TaskInstanceState | str,
    *,
    run_id: str,
    logical_date: datetime,
    map_index: int = -1,
    try_number: int = 1,
    error: str | None = None,
    log: str = "",
    url: str | None = None,
) -> list[Notice]:
    """The notices a task instance's new ``state`` calls for: none, or one.

    ``failed`` gives ``task_failed``, ``up_for_retry`` gives ``task_retry``, every
    other state nothing. ``log`` may be the whole log; the notice keeps its end.
    """
    kind = _TASK_NOTICES.get(TaskInstanceState(state))
    if kind is None:
        return []
    dag_id = getattr(task, "dag_id", None)
    if not dag_id:
        raise ValueError(f"task {task.task_id!r} belongs to no DAG; notices name the DAG")
    return [
        Notice(kind=kind, dag_id=dag_id, run_id=run_id, task_id=task.task_id,
               map_index=map_index, try_number=try_number, error=error, log_tail=tail(log),
               logical_date=logical_date, url=url)
    ]


def notices_for_run(
    dag: Any,
    state: DagRunState | str,
    *,
    run_id: str,
    logical_date: datetime,
    error: str | None = None,
    url: str | None = None,
) -> list[Notice]:
    """``run_failed`` or ``run_succeeded`` for a finished DAG run; nothing for other states."""
    kind = _RUN_NOTICES.get(DagRunState(state))
    if kind is None:
        return []
    return [Notice(kind=kind, dag_id=dag.dag_id, run_id=run_id, error=error,
                   logical_date=logical_date, url=url)]


# -- settings -------------------------------------------------------------------------
@dataclass(frozen=True)
class NotifierSettings:
    """Where notices go. :meth:`from_config` reads them from ``daskflow.notifications``."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    sender: str = "daskflow@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    smtp_timeout: float = 10
    local_hostname: str | None = None
    webhook_url: str | None = field(default=None, repr=False)
    webhook_kinds: frozenset[str] = frozenset({"task_failed", "run_failed"})
    webhook_timeout: float = 10
    webhook_retry_delay: float = 1.0

    def __post_init__(self) -> None:
        unknown = set(self.webhook_kinds) - _ALL_KINDS
        if unknown:
            raise NotificationError(
                f"daskflow.notifications.webhook-kinds: unknown kinds {sorted(unknown)}; "
                f"use some of {sorted(_ALL_KINDS)}"
            )

    @classmethod
    def from_config(cls) -> NotifierSettings:
        """The settings in dask.config now (YAML files, ``DASK_DASKFLOW__...`` variables)."""
        kinds = config.get("notifications.webhook-kinds", ["task_failed", "run_failed"])
        if isinstance(kinds, str):
            kinds = [k.strip() for k in kinds.split(",") if k.strip()]
        return cls(
            smtp_host=str(config.get("notifications.smtp.host", "127.0.0.1")),
            smtp_port=_number("smtp.port", 25, int),
            sender=str(config.get("notifications.smtp.sender", "daskflow@localhost")),
            username=config.get("notifications.smtp.username", None) or None,
            password=config.get("notifications.smtp.password", None) or None,
            starttls=_flag("smtp.starttls"),
            ssl=_flag("smtp.ssl"),
            smtp_timeout=_number("smtp.timeout", 10, float),
            local_hostname=config.get("notifications.smtp.local-hostname", None) or None,
            webhook_url=config.get("notifications.webhook-url", None) or None,
            webhook_kinds=frozenset(kinds or ()),
            webhook_timeout=_number("webhook-timeout", 10, float),
        )


def _flag(name: str) -> bool:
    value = config.get(f"notifications.{name}", False)
    if isinstance(value, str):
        if value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if value.strip().lower() in ("", "0", "false", "no", "off"):
            return False
        raise NotificationError(
            f"daskflow.notifications.{name} must be true or false, got {value!r}"
        )
    return bool(value)


def _number(name: str, default: float, kind: type) -> Any:
    value = config.get(f"notifications.{name}", default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise NotificationError(
            f"daskflow.notifications.{name} must be a number, got {value!r}"
        ) from None


# -- the notifier ---------------------------------------------------------------------
class Notifier:
    """Decides the targets of a notice and delivers it, in its own thread pool.

    ``Notifier()`` reads its settings from dask.config once, now; pass
    :class:`NotifierSettings` to choose them. Use it as a context manager, or
    call :meth:`close`, to wait for notices still being sent.
    """

    def __init__(self, settings: NotifierSettings | None = None, *, max_workers: int = 2) -> None:
        self.settings = settings if settings is not None else NotifierSettings.from_config()
        self._pool = ThreadPoolExecutor(max_workers=max_workers,
                                        thread_name_prefix="daskflow-notifications")

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self, wait: bool = True) -> None:
        """Stop taking notices; with ``wait``, return once those submitted are sent."""
        self._pool.shutdown(wait=wait)

    # -- deciding -----------------------------------------------------------------
    def targets_for(self, task_or_dag: Any, notice: Notice) -> list[Target]:
        """Where ``notice`` goes, by the table in this module's docstring.

        Pass the task for a ``task_*`` notice and the DAG for a ``run_*`` one; a DAG
        given with a task notice is asked for the task named in the notice.
        """
        task, dag = _task_and_dag(task_or_dag, notice)
        targets: list[Target] = []
        addresses = _email_recipients(task, dag, notice)
        if addresses:
            targets.append(EmailTarget(addresses))
        if notice.kind in self.settings.webhook_kinds:
            url = (
                getattr(task, "webhook_url", None)
                or _default_args(dag).get("webhook_url")
                or self.settings.webhook_url
            )
            if url:
                targets.append(WebhookTarget(url))
        return targets

    # -- delivering ---------------------------------------------------------------
    def send(
        self, notice: Notice, targets: Iterable[Target]
    ) -> list[tuple[Target, Exception | None]]:
        """Deliver ``notice`` to each target; return each target with its error or ``None``.

        Never raises for a failed delivery: the failure is logged on the
        ``daskflow.notifications`` logger and reported in the result.
        """
        results: list[tuple[Target, Exception | None]] = []
        for target in targets:
            try:
                self._deliver(notice, target)
            except NotificationError as exc:
                logger.warning("%s notice about %s not delivered (%s): %s", notice.kind,
                               notice.subject_name, target, exc)
                results.append((target, exc))
            except Exception as exc:  # a notice must never stop its caller
                logger.exception("%s notice about %s not delivered (%s): unexpected error",
                                 notice.kind, notice.subject_name, target)
                results.append((target, exc))
            else:
                logger.info("%s notice about %s sent (%s)", notice.kind, notice.subject_name,
                            target)
                results.append((target, None))
        return results

    def submit(
        self, notice: Notice, targets: Sequence[Target]
    ) -> Future[list[tuple[Target, Exception | None]]]:
        """:meth:`send` in the notifier's thread pool; the future holds its result."""
        return self._pool.submit(self.send, notice, list(targets))

    def notify(
        self, task_or_dag: Any, notice: Notice
    ) -> Future[list[tuple[Target, Exception | None]]]:
        """:meth:`targets_for` now, then :meth:`submit`: the scheduler loop's one call."""
        return self.submit(notice, self.targets_for(task_or_dag, notice))

    def _deliver(self, notice: Notice, target: Target) -> None:
        s = self.settings
        if isinstance(target, EmailTarget):
            send_email(target.recipients, render_subject(notice), render_text(notice),
                       host=s.smtp_host, port=s.smtp_port, sender=s.sender,
                       username=s.username, password=s.password, starttls=s.starttls,
                       ssl=s.ssl, timeout=s.smtp_timeout, local_hostname=s.local_hostname)
        elif isinstance(target, WebhookTarget):
            post_webhook(target.url, slack_payload(notice), timeout=s.webhook_timeout,
                         retry_delay=s.webhook_retry_delay)
        else:
            raise TypeError(f"unknown notification target {target!r}")


# -- helpers of targets_for -----------------------------------------------------------
def _default_args(dag: Any) -> dict[str, Any]:
    return dict(getattr(dag, "default_args", None) or {})


def _task_and_dag(task_or_dag: Any, notice: Notice) -> tuple[Any, Any]:
    """(task or None, DAG or None) for ``notice``, from either a task or a DAG."""
    if hasattr(task_or_dag, "task_dict"):
        dag = task_or_dag
        task = dag.get_task(notice.task_id) if notice.kind in TASK_KINDS else None
        return task, dag
    task = task_or_dag
    return (task if notice.kind in TASK_KINDS else None), getattr(task, "dag", None)


def _email_recipients(task: Any, dag: Any, notice: Notice) -> tuple[str, ...]:
    if notice.kind == "task_failed" and getattr(task, "email_on_failure", True):
        return recipients(getattr(task, "email", None))
    if notice.kind == "task_retry" and getattr(task, "email_on_retry", True):
        return recipients(getattr(task, "email", None))
    if notice.kind == "run_failed":
        defaults = _default_args(dag)
        if defaults.get("email_on_failure", True):
            return recipients(defaults.get("email"))
    return ()
