"""The one error type of the notification senders."""

from __future__ import annotations

from daskflow.exceptions import DaskflowError


class NotificationError(DaskflowError):
    """An e-mail or webhook notice could not be delivered.

    The message names the SMTP server (``host:port``) or the webhook URL, with
    any token in the URL masked, so it can be logged and shown as it is.
    """
