"""What a notice says, rendered as an e-mail subject, an e-mail body and a Slack message.

A :class:`Notice` is the record the scheduler loop hands to the notifier: one
task instance that failed for good or goes up for retry, or one DAG run that
finished. It is plain data, and the three renderings are pure functions of it,
so the same notice reads alike in a mailbox and in a chat channel, and tests
compare strings without any server.

A notice carries the last lines of the task's log, never the whole log: a
mail or chat message is read on a phone, and Slack refuses long blocks. The
trimming happens when the notice is built, so no sender has to think about it.
So does hiding registered secrets (``daskflow/secrets``): the error and the log
are redacted when the notice is built, and every rendering once more.

>>> from datetime import datetime, timezone
>>> notice = Notice(kind="task_failed", dag_id="etl", run_id="manual__1", task_id="load",
...                 try_number=2, error="ValueError: no rows",
...                 logical_date=datetime(2024, 1, 1, tzinfo=timezone.utc))
>>> render_subject(notice)
'[daskflow] Task failed: etl.load (try 2)'
>>> slack_payload(notice)["blocks"][0]["text"]["text"]
'Task failed: etl.load (try 2)'
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from daskflow.secrets.masking import redact, redact_value

NoticeKind = Literal["task_failed", "task_retry", "run_failed", "run_succeeded"]
TASK_KINDS = frozenset({"task_failed", "task_retry"})
RUN_KINDS = frozenset({"run_failed", "run_succeeded"})

#: How much of a task's log a notice keeps: its last lines, and at most this many characters.
LOG_TAIL_LINES = 30
LOG_TAIL_CHARS = 4000

_TITLES = {
    "task_failed": "Task failed",
    "task_retry": "Task up for retry",
    "run_failed": "DAG run failed",
    "run_succeeded": "DAG run succeeded",
}
# Slack's limits on a header's text and on one section's text.
_SLACK_HEADER_CHARS = 150
_SLACK_SECTION_CHARS = 3000


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One event worth telling a person about.

    ``task_id``, ``map_index`` and ``try_number`` describe the task instance of a
    ``task_*`` notice (``map_index`` is -1 for a task that is not mapped); a
    ``run_*`` notice leaves ``task_id`` as ``None``. ``error`` is the one-line (or
    short) error summary, ``log_tail`` the end of the task's log, ``url`` a link to
    the dashboard page of the run or task instance, when one is known.
    """

    kind: NoticeKind
    dag_id: str
    run_id: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int = 1
    error: str | None = None
    log_tail: str = ""
    logical_date: datetime
    url: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _TITLES:
            raise ValueError(
                f"unknown notice kind {self.kind!r}; use one of {', '.join(_TITLES)}"
            )
        if self.kind in TASK_KINDS and not self.task_id:
            raise ValueError(f"a {self.kind!r} notice needs the task_id of the task instance")
        object.__setattr__(self, "error", redact(self.error))
        object.__setattr__(self, "log_tail", tail(redact(self.log_tail)))

    @property
    def subject_name(self) -> str:
        """``dag.task`` (with ``[map_index]`` when mapped) or the DAG id, for titles."""
        if self.task_id is None:
            return self.dag_id
        name = f"{self.dag_id}.{self.task_id}"
        return f"{name}[{self.map_index}]" if self.map_index >= 0 else name


def tail(text: str | None, lines: int = LOG_TAIL_LINES, max_chars: int = LOG_TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text``, cut to its last ``max_chars`` characters.

    >>> tail("1\\n2\\n3\\n", lines=2)
    '2\\n3'
    """
    if not text:
        return ""
    kept = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    if len(kept) > max_chars:
        kept = "…" + kept[-(max_chars - 1):]
    return kept


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _title(notice: Notice) -> str:
    """``Task failed: etl.load (try 2)``: the kind, whom it concerns, and the try."""
    title = f"{_TITLES[notice.kind]}: {notice.subject_name}"
    if notice.kind in TASK_KINDS:
        title += f" (try {notice.try_number})"
    else:
        title += f" ({notice.run_id})"
    return _one_line(title)


def _headline(notice: Notice) -> str:
    """A sentence saying what happened and what comes next."""
    task = f"Task {notice.task_id!r}"
    if notice.map_index >= 0:
        task += f" (map index {notice.map_index})"
    where = f"of DAG {notice.dag_id!r} in run {notice.run_id!r}"
    if notice.kind == "task_failed":
        return f"{task} {where} failed on try {notice.try_number}; it will not be retried."
    if notice.kind == "task_retry":
        return f"{task} {where} failed on try {notice.try_number} and is up for retry."
    outcome = "failed" if notice.kind == "run_failed" else "succeeded"
    return f"DAG run {notice.run_id!r} of DAG {notice.dag_id!r} {outcome}."


def _details(notice: Notice) -> list[tuple[str, str]]:
    rows = [("DAG", notice.dag_id), ("Run", notice.run_id)]
    if notice.task_id is not None:
        rows.append(("Task", notice.task_id))
        if notice.map_index >= 0:
            rows.append(("Map index", str(notice.map_index)))
        rows.append(("Try", str(notice.try_number)))
    rows.append(("Logical date", notice.logical_date.isoformat()))
    return rows


def render_subject(notice: Notice) -> str:
    """The e-mail subject: one line naming the kind, the DAG, the task and the try."""
    return redact(f"[daskflow] {_title(notice)}")


def render_text(notice: Notice) -> str:
    """The plain-text e-mail body: what happened, where, the error and the log's end."""
    width = max(len(label) for label, _ in _details(notice)) + 2
    parts = [_headline(notice), ""]
    parts += [f"{label + ':':<{width}}{value}" for label, value in _details(notice)]
    if notice.url:
        parts.append(f"{'Dashboard:':<{width}}{notice.url}")
    if notice.error:
        parts += ["", "Error:", textwrap.indent(notice.error.rstrip("\n"), "    ")]
    if notice.log_tail:
        parts += ["", "Last lines of the log:", textwrap.indent(notice.log_tail, "    ")]
    parts += ["", "-- ", "Sent by daskflow."]
    return redact("\n".join(parts) + "\n")


def _slack_escape(text: str) -> str:
    """Escape what Slack's mrkdwn reads as markup (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code_block(text: str, *, keep_end: bool, room: int) -> str:
    """A mrkdwn code block of at most ``room`` characters that a backtick run cannot end."""
    body = _slack_escape(text).replace("```", "`\u200b`\u200b`")
    room -= len("``````")
    if len(body) > room:
        body = "…" + body[-(room - 1):] if keep_end else body[: room - 1] + "…"
    return f"```{body}```"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Slack-compatible message: ``{"text": ..., "blocks": [...]}``.

    ``text`` is the one-sentence fallback that chat clients show in pop-ups; the
    blocks are a header, the details as fields, the error, the log's end as a code
    block and, when known, a link to the dashboard. Webhooks of Mattermost and
    Rocket.Chat read the same shape.
    """
    header = _title(notice)
    if len(header) > _SLACK_HEADER_CHARS:
        header = header[: _SLACK_HEADER_CHARS - 1] + "…"
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"}
        for label, value in _details(notice)
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "fields": fields},
    ]
    if notice.error:
        label = "*Error*\n"
        room = _SLACK_SECTION_CHARS - len(label)
        blocks.append(_section(label + _code_block(notice.error, keep_end=False, room=room)))
    if notice.log_tail:
        label = "*Last lines of the log*\n"
        room = _SLACK_SECTION_CHARS - len(label)
        blocks.append(_section(label + _code_block(notice.log_tail, keep_end=True, room=room)))
    if notice.url:
        link = notice.url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
        blocks.append(_section(f"<{link}|Open in the dashboard>"))
    return redact_value({"text": _slack_escape(_headline(notice)), "blocks": blocks})
