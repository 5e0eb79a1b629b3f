"""``SlackWebhookOperator``: post a message to a Slack-compatible webhook as a task
(Airflow's ``SlackWebhookOperator``).

The message goes through :class:`~daskflow.hooks.webhook.SlackWebhookHook`
and the connection ``slack_webhook_conn_id``. ``message`` (the ``text``),
``blocks`` and ``attachments`` are templated, as are ``channel`` and
``username`` (legacy webhooks honour them; app webhooks post to their own
channel). A refused or failed post fails the task with the conn_id in the
error and the webhook URL masked; it retries as the task's ``retries`` say.
"""

from __future__ import annotations

from typing import Any

from daskflow.hooks.webhook import SlackWebhookHook
from daskflow.models.baseoperator import BaseOperator


class SlackWebhookOperator(BaseOperator):
    """Post ``message`` (and/or ``blocks``) to the webhook of ``slack_webhook_conn_id``."""

    template_fields = ("message", "attachments", "blocks", "channel", "username")
    ui_color = "#41eae4"

    def __init__(self, *, slack_webhook_conn_id: str = "slack_default", message: str = "",
                 attachments: list[dict[str, Any]] | None = None,
                 blocks: list[dict[str, Any]] | None = None, channel: str | None = None,
                 username: str | None = None, icon_emoji: str | None = None,
                 icon_url: str | None = None, timeout: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.message = message
        self.attachments = attachments
        self.blocks = blocks
        self.channel = channel
        self.username = username
        self.icon_emoji = icon_emoji
        self.icon_url = icon_url
        self.timeout = timeout

    @property
    def hook(self) -> SlackWebhookHook:
        return SlackWebhookHook(slack_webhook_conn_id=self.slack_webhook_conn_id,
                                timeout=self.timeout)

    def execute(self, context: dict[str, Any]) -> None:
        hook = self.hook
        print(f"Posting to the webhook of connection {self.slack_webhook_conn_id!r} "
              f"({hook.shown_url()})")
        status = hook.send(text=self.message or None, blocks=self.blocks,
                           attachments=self.attachments, channel=self.channel,
                           username=self.username, icon_emoji=self.icon_emoji,
                           icon_url=self.icon_url)
        print(f"Posted: HTTP {status}")
