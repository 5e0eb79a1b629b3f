"""``SlackWebhookHook``: post messages to a Slack-compatible incoming webhook
(Airflow's ``SlackWebhookHook``; Mattermost and other Slack-compatible
receivers take the same JSON).

The webhook URL comes from the connection ``slack_webhook_conn_id``
(``slack_default``), in the first of these forms it has:

- ``extra`` ``{"webhook_url": "https://..."}``: the whole URL;
- a ``password`` that is itself a URL (``https://hooks.slack.com/services/T/B/x``);
- ``host`` (``hooks.slack.com/services`` when empty; ``https`` unless ``schema``
  or the host says otherwise, and ``port`` if set) with the ``password`` as
  the path token after it.

The URL is a secret (the token is in it): errors show only its scheme and
host, and name the conn_id. A 5xx answer or a failed connection is tried once
more after ``retry_delay`` seconds; a 4xx answer (Slack says ``invalid_token``,
``no_text``...) fails at once with the start of the answer.
"""

from __future__ import annotations

from typing import Any

from daskflow.exceptions import DaskflowError
from daskflow.hooks.base import BaseHook
from daskflow.notifications.errors import NotificationError
from daskflow.notifications.webhook import mask_url, post_webhook

DEFAULT_HOST = "hooks.slack.com/services"


class SlackWebhookError(DaskflowError):
    """Posting to a webhook connection failed."""


class SlackWebhookHook(BaseHook):
    """Post JSON messages to the webhook of connection ``slack_webhook_conn_id``."""

    conn_name_attr = "slack_webhook_conn_id"
    default_conn_name = "slack_default"
    conn_type = "slackwebhook"
    hook_name = "Slack Incoming Webhook"

    def __init__(self, slack_webhook_conn_id: str = default_conn_name,
                 timeout: float | None = None, retry_delay: float = 1.0) -> None:
        super().__init__(slack_webhook_conn_id=slack_webhook_conn_id)
        self.timeout = timeout
        self.retry_delay = retry_delay

    def webhook_url(self) -> str:
        """The full webhook URL of the connection (a secret: never print it)."""
        conn = self.get_connection(self.slack_webhook_conn_id)
        extra = conn.extra_dejson
        if extra.get("webhook_url"):
            return str(extra["webhook_url"])
        token = (conn.password or "").strip()
        if token.startswith(("http://", "https://")):
            return token
        if not token:
            raise SlackWebhookError(
                f"connection {self.slack_webhook_conn_id!r} has no webhook: set its password "
                "to the webhook token (or the whole URL), or extra webhook_url")
        host = (conn.host or DEFAULT_HOST).strip()
        if "://" not in host:
            host = f"{conn.schema or 'https'}://{host}"
        if conn.port:
            scheme, _, rest = host.partition("://")
            netloc, slash, path = rest.partition("/")
            host = f"{scheme}://{netloc}:{conn.port}{slash}{path}"
        return host.rstrip("/") + "/" + token.lstrip("/")

    def get_conn(self) -> str:
        return self.webhook_url()

    def _timeout(self) -> float:
        if self.timeout is not None:
            return float(self.timeout)
        conn = self.get_connection(self.slack_webhook_conn_id)
        return float(conn.extra_dejson.get("timeout", 30))

    def send_dict(self, body: dict[str, Any], *, headers: dict[str, str] | None = None) -> int:
        """POST ``body`` as JSON; return the HTTP status (2xx) or raise
        :class:`SlackWebhookError` naming the conn_id."""
        url = self.webhook_url()
        try:
            return post_webhook(url, body, timeout=self._timeout(), headers=headers,
                                retry_delay=self.retry_delay)
        except NotificationError as exc:
            raise SlackWebhookError(
                f"connection {self.slack_webhook_conn_id!r}: {exc}") from None

    def send(self, *, text: str | None = None, blocks: list[dict[str, Any]] | None = None,
             attachments: list[dict[str, Any]] | None = None,
             headers: dict[str, str] | None = None, **fields: Any) -> int:
        """Post a message: ``text``, ``blocks``, ``attachments`` and any other field the
        receiver knows (``channel``, ``username``, ``icon_emoji``, ``unfurl_links``...);
        fields that are ``None`` are left out."""
        body = {"text": text, "blocks": blocks, "attachments": attachments, **fields}
        body = {key: value for key, value in body.items() if value is not None}
        if not body.get("text") and not body.get("blocks") and not body.get("attachments"):
            raise SlackWebhookError(f"connection {self.slack_webhook_conn_id!r}: a message "
                                    "needs text, blocks or attachments")
        return self.send_dict(body, headers=headers)

    def send_text(self, text: str, **fields: Any) -> int:
        return self.send(text=text, **fields)

    def shown_url(self) -> str:
        """The webhook URL as errors and logs show it (scheme and host only)."""
        return mask_url(self.webhook_url())
