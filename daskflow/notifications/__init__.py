"""Failure notices by e-mail and webhook, as Airflow's ``email_on_failure`` users expect.

:mod:`~daskflow.notifications.message` says what a notice reads like,
:mod:`~daskflow.notifications.email` and :mod:`~daskflow.notifications.webhook`
deliver one, and :mod:`~daskflow.notifications.dispatch` decides who gets it
and sends it off the caller's thread. Importing this package has no effect.
"""

from __future__ import annotations

from daskflow.notifications.dispatch import (
    EmailTarget,
    Notifier,
    NotifierSettings,
    Target,
    WebhookTarget,
    notices_for_run,
    notices_for_task,
)
from daskflow.notifications.email import send_email
from daskflow.notifications.errors import NotificationError
from daskflow.notifications.message import Notice, render_subject, render_text, slack_payload
from daskflow.notifications.webhook import mask_url, post_webhook

__all__ = [
    "EmailTarget",
    "Notice",
    "NotificationError",
    "Notifier",
    "NotifierSettings",
    "Target",
    "WebhookTarget",
    "mask_url",
    "notices_for_run",
    "notices_for_task",
    "post_webhook",
    "render_subject",
    "render_text",
    "send_email",
    "slack_payload",
]
