"""POST a JSON notice to a webhook URL (Slack, Mattermost, Teams workflows, your own).

A webhook URL is a secret: Slack's carry their token in the path
(``/services/T.../B.../<token>``), others in the query string. So no message,
log line or ``repr`` made here shows more than the scheme, host and port;
:func:`mask_url` is what every error uses.

Policy: a server error (5xx) or a failed connection is tried once more after a
short pause, because both are usually a restart or a blip on the receiving side;
a client error (4xx) is not, because sending the same request again cannot fix
it. Redirects are not followed: urllib would turn the POST into a GET without
its body, and a redirect could carry the token to another host.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from daskflow.notifications.errors import NotificationError

logger = logging.getLogger("daskflow.notifications")

_USER_AGENT = "daskflow-notifications"
_BODY_EXCERPT = 200


def mask_url(url: str) -> str:
    """The URL with its user info, path, query and fragment hidden.

    >>> mask_url("https://hooks.slack.com/services/T0/B0/secret?x=1")
    'https://hooks.slack.com/***?***'
    >>> mask_url("http://user:pw@127.0.0.1:8080")
    'http://127.0.0.1:8080'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable webhook URL>"
    if ":" in host:
        host = f"[{host}]"
    masked = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    if parts.path not in ("", "/"):
        masked += "/***"
    if parts.query:
        masked += "?***"
    return masked


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class _Retryable(Exception):
    """A failure that one more try might fix; carries the original cause."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float = 10,
    headers: dict[str, str] | None = None,
    retry_delay: float = 1.0,
) -> int:
    """POST ``payload`` as JSON to ``url`` and return the HTTP status (2xx).

    Raises :class:`NotificationError`, naming the masked URL, when the server
    answers with anything but 2xx or cannot be reached (after one more try for a
    5xx or a connection failure, ``retry_delay`` seconds later).
    """
    shown = mask_url(url)
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme not in ("http", "https"):
        raise NotificationError(f"webhook URL {shown} must start with http:// or https://")
    body = json.dumps(payload).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT}
    all_headers.update(headers or {})
    try:
        return _post_once(url, body, all_headers, timeout)
    except _Retryable as first:
        logger.info("webhook %s: %s; trying once more in %ss", shown, first, retry_delay)
    time.sleep(retry_delay)
    try:
        return _post_once(url, body, all_headers, timeout)
    except _Retryable as exc:
        raise NotificationError(f"webhook {shown}: {exc} (tried twice)") from exc.cause


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    shown = mask_url(url)
    try:
        # A new opener each time, so proxy variables are read when sending, not at import.
        opener = urllib.request.build_opener(_NoRedirect)
        with opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}{_excerpt(exc, url)}"
        exc.close()
        if exc.code >= 500:
            raise _Retryable(reason, exc) from None
        raise NotificationError(f"webhook {shown} answered {reason}") from exc
    except urllib.error.URLError as exc:
        raise _Retryable(f"could not connect: {exc.reason}", exc) from None
    except OSError as exc:  # timeouts and resets while reading the answer
        raise _Retryable(f"connection failed: {type(exc).__name__}: {exc}", exc) from None
    if not 200 <= status < 300:
        raise NotificationError(f"webhook {shown} answered HTTP {status}")
    return status


def _excerpt(error: urllib.error.HTTPError, url: str) -> str:
    """The start of an error response's body (Slack says e.g. ``invalid_token`` there)."""
    try:
        text = error.read(_BODY_EXCERPT).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    for secret in _secret_parts(url):
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    return f": {text}" if text else ""


def _secret_parts(url: str) -> list[str]:
    """Path segments and query values of ``url``: what :func:`mask_url` hides."""
    parts = urlsplit(url)
    pieces = parts.path.split("/") + [p.partition("=")[2] for p in parts.query.split("&")]
    if parts.password:
        pieces.append(parts.password)
    return sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True)
