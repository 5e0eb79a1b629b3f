"""``HttpHook``: call an HTTP API described by a connection (Airflow's ``HttpHook``).

The connection gives the base URL and the login:

- ``host`` (a bare name, or a whole URL such as ``https://api.example.com``),
  ``schema`` (the URL scheme, ``http`` when not given) and ``port``;
- ``login``/``password``: HTTP basic authentication (or the ``auth_type``
  class given to the hook, called with them);
- ``extra``: headers sent with every request, except the request options
  ``timeout``, ``verify``, ``proxies``, ``cert``, ``stream``,
  ``allow_redirects`` and ``check_response``, which set those defaults.

Requests are made with ``requests``, so ``run`` returns a
``requests.Response``: a ``response_check`` written for Airflow reads it the
same way. A 4xx or 5xx answer raises :class:`HttpRequestError` (status, reason,
the start of the body, the conn_id); an unreachable host raises it too, with
no status. Neither ever shows the password: it travels in a header and was
registered with the secret masker when the connection was read.

:meth:`HttpHook.run_with_advanced_retry` repeats a request after connection
failures and 5xx answers (a 4xx is final: the same request cannot succeed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from daskflow.exceptions import DaskflowError
from daskflow.hooks.base import BaseHook

#: Keys of a connection's ``extra`` (and of ``extra_options``) that are request
#: options rather than headers.
REQUEST_OPTIONS = ("timeout", "verify", "proxies", "cert", "stream", "allow_redirects",
                   "check_response")
#: How much of an error response's body an error message shows.
BODY_EXCERPT = 300
#: ``run_with_advanced_retry`` settings and their defaults.
RETRY_DEFAULTS = {"attempts": 3, "wait": 1.0, "backoff": 1.0}


class HttpRequestError(DaskflowError):
    """An HTTP call failed: ``status_code`` is the answer's status, ``None`` when the
    server could not be reached at all."""

    def __init__(self, message: str, status_code: int | None = None,
                 conn_id: str | None = None, response: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.conn_id = conn_id
        self.response = response


class HttpHook(BaseHook):
    """Make HTTP requests to the API of connection ``http_conn_id`` with ``method``.

    >>> HttpHook(method="get").method, HttpHook().http_conn_id
    ('GET', 'http_default')
    """

    conn_name_attr = "http_conn_id"
    default_conn_name = "http_default"
    conn_type = "http"
    hook_name = "HTTP"

    def __init__(self, method: str = "POST", http_conn_id: str = default_conn_name,
                 auth_type: Callable[..., Any] | None = None) -> None:
        super().__init__(http_conn_id=http_conn_id)
        self.method = method.upper()
        self.auth_type = auth_type
        self.base_url = ""
        self._options: dict[str, Any] = {}

    # -- the session ------------------------------------------------------------------
    def get_conn(self, headers: dict[str, Any] | None = None) -> requests.Session:
        """A session with the connection's base URL, login and headers (``headers``
        added on top); sets :attr:`base_url`."""
        session = requests.Session()
        conn = self.get_connection(self.http_conn_id)
        self.base_url = base_url(conn.host, conn.schema, conn.port)
        if conn.login:
            auth = self.auth_type or requests.auth.HTTPBasicAuth
            session.auth = auth(conn.login, conn.password or "")
        self._options = {}
        for key, value in conn.extra_dejson.items():
            if key in REQUEST_OPTIONS:
                self._options[key] = value
            else:
                session.headers[key] = str(value)
        if headers:
            session.headers.update(headers)
        return session

    def url_from_endpoint(self, endpoint: str | None) -> str:
        """The base URL joined with ``endpoint`` by exactly one ``/``."""
        if not endpoint:
            return self.base_url
        if not self.base_url:
            return endpoint
        return self.base_url.rstrip("/") + "/" + endpoint.lstrip("/")

    # -- requests ---------------------------------------------------------------------
    def run(self, endpoint: str | None = None, data: Any = None,
            headers: dict[str, Any] | None = None, extra_options: dict[str, Any] | None = None,
            **request_kwargs: Any) -> requests.Response:
        """Send one request: ``data`` is the query for GET and HEAD, the body otherwise;
        ``request_kwargs`` (``json=``, ``files=``...) go to ``requests`` as they are.

        ``extra_options`` (over the connection's): ``timeout``, ``verify``, ``proxies``,
        ``cert``, ``stream``, ``allow_redirects``, and ``check_response`` (default true:
        raise :class:`HttpRequestError` on 4xx/5xx).
        """
        session = self.get_conn(headers)
        url = self.url_from_endpoint(endpoint)
        if self.method in ("GET", "HEAD"):
            request = requests.Request(self.method, url, params=data, **request_kwargs)
        else:
            request = requests.Request(self.method, url, data=data, **request_kwargs)
        self.log.info("Sending %s to %s (connection %r)", self.method, url, self.http_conn_id)
        return self.run_and_check(session, session.prepare_request(request), extra_options)

    def run_and_check(self, session: requests.Session, prepped_request: requests.PreparedRequest,
                      extra_options: dict[str, Any] | None = None) -> requests.Response:
        """Send a prepared request with the options; check the answer unless told not to."""
        options = {**self._options, **(extra_options or {})}
        unknown = sorted(set(options) - set(REQUEST_OPTIONS))
        if unknown:
            raise ValueError(f"connection {self.http_conn_id!r}: unknown extra_options "
                             f"{unknown}; known: {', '.join(REQUEST_OPTIONS)}")
        check = _flag(options.pop("check_response", True))
        settings = session.merge_environment_settings(
            prepped_request.url, options.pop("proxies", {}), options.pop("stream", None),
            options.pop("verify", None), options.pop("cert", None))
        try:
            response = session.send(prepped_request, **settings, **options)
        except requests.exceptions.RequestException as exc:
            raise HttpRequestError(
                f"connection {self.http_conn_id!r}: {prepped_request.method} "
                f"{_shown(prepped_request.url)} failed: {_reason(exc)}",
                conn_id=self.http_conn_id) from None
        if check:
            self.check_response(response)
        return response

    def check_response(self, response: requests.Response) -> None:
        """Raise :class:`HttpRequestError` if ``response`` is a 4xx or 5xx answer."""
        if response.status_code < 400:
            return
        body = " ".join(response.text[:BODY_EXCERPT].split())
        cut = "..." if len(response.text) > BODY_EXCERPT else ""
        raise HttpRequestError(
            f"{response.status_code}:{response.reason} from connection {self.http_conn_id!r} "
            f"({response.request.method} {_shown(response.url)})"
            + (f": {body}{cut}" if body else ""),
            status_code=response.status_code, conn_id=self.http_conn_id, response=response)

    def run_with_advanced_retry(self, _retry_args: dict[str, Any], *args: Any,
                                **kwargs: Any) -> requests.Response:
        """:meth:`run` (same arguments), tried again after a connection failure or a
        5xx answer.

        ``_retry_args``: ``attempts`` (tries in all, default 3), ``wait`` (seconds
        before the second try, default 1) and ``backoff`` (the wait is multiplied by
        it after each try, default 1). Airflow takes tenacity arguments here; daskflow
        does not depend on tenacity, so those are refused with the names it knows.
        """
        unknown = sorted(set(_retry_args) - set(RETRY_DEFAULTS))
        if unknown:
            raise ValueError(f"retry arguments {unknown} are not known; daskflow takes "
                             f"{', '.join(RETRY_DEFAULTS)} (tries, seconds, multiplier)")
        settings = {**RETRY_DEFAULTS, **_retry_args}
        attempts, wait = int(settings["attempts"]), float(settings["wait"])
        if attempts < 1:
            raise ValueError(f"retry attempts must be at least 1, got {attempts}")
        for attempt in range(1, attempts + 1):
            try:
                return self.run(*args, **kwargs)
            except HttpRequestError as exc:
                final = exc.status_code is not None and exc.status_code < 500
                if final or attempt == attempts:
                    raise
                self.log.warning("Try %d of %d failed (%s); trying again in %gs",
                                 attempt, attempts, exc, wait)
                time.sleep(wait)
                wait *= float(settings["backoff"])
        raise AssertionError("unreachable")  # pragma: no cover

    def test_connection(self) -> tuple[bool, str]:
        """Send the hook's method to the base URL: ``(answered 2xx/3xx, message)``."""
        try:
            self.run()
        except (HttpRequestError, DaskflowError) as exc:
            return False, str(exc)
        return True, "Connection successfully tested"


def base_url(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """The base URL from a connection's fields.

    >>> base_url("api.example.com", "https", 8443)
    'https://api.example.com:8443'
    >>> base_url("http://127.0.0.1/v1/", port=8080)
    'http://127.0.0.1:8080/v1'
    >>> base_url("127.0.0.1")
    'http://127.0.0.1'
    """
    if not host:
        return ""
    url = host if "://" in host else f"{schema or 'http'}://{host}"
    if port:
        scheme, _, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        if ":" not in netloc.rsplit("]", 1)[-1]:
            netloc = f"{netloc}:{port}"
        url = f"{scheme}://{netloc}{slash}{path}"
    return url.rstrip("/")


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off", "")
    return bool(value)


def _shown(url: str | None) -> str:
    """``url`` without user info (a password there must not reach a message)."""
    parts = urlsplit(url or "")
    if parts.username is None and parts.password is None:
        return url or ""
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _reason(exc: requests.exceptions.RequestException) -> str:
    """What went wrong, without urllib3's nesting of pool and retry wrappers."""
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, requests.exceptions.ConnectionError):
        inner = exc.args[0] if exc.args else None
        text = str(getattr(inner, "reason", None) or inner or exc)
        marker = "Failed to establish a new connection: "
        if marker in text:
            text = text.split(marker, 1)[1]
        return f"could not connect: {text.rstrip(')')}"
    return f"{type(exc).__name__}: {exc}"
