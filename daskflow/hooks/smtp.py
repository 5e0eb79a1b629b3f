"""``SmtpHook``: send e-mail through the SMTP server of a connection (Airflow's ``SmtpHook``).

The connection ``smtp_conn_id`` (``smtp_default``) gives ``host``, ``port``
and the ``login``/``password`` (logged in only when both are set); its
``extra`` may hold:

- ``disable_ssl`` (default false): without it the hook speaks TLS from the
  first byte (``SMTP_SSL``, usually port 465), as Airflow does;
- ``disable_tls`` (default false): on a plain connection (``disable_ssl``
  true) the hook upgrades with ``STARTTLS`` unless this is true;
- ``from_email``: the sender when none is given; ``timeout`` (seconds, 30);
  ``retry_limit`` (5): how many more times to connect when the server drops
  the connection before greeting.

Use it as a context manager (``with SmtpHook() as hook: hook.send_email_smtp(...)``):
the server connection is opened on entry and closed on exit. Every failure
(unreachable server, TLS refused, login refused, recipients refused) raises
:class:`SmtpError` naming the conn_id and ``host:port``; the password never
appears in it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from daskflow.exceptions import DaskflowError
from daskflow.hooks.base import BaseHook
from daskflow.notifications.email import recipients, server_name


class SmtpError(DaskflowError):
    """Sending through an SMTP connection failed."""


class SmtpHook(BaseHook):
    """Send e-mail through the SMTP server of connection ``smtp_conn_id``."""

    conn_name_attr = "smtp_conn_id"
    default_conn_name = "smtp_default"
    conn_type = "smtp"
    hook_name = "SMTP"

    def __init__(self, smtp_conn_id: str = default_conn_name) -> None:
        super().__init__(smtp_conn_id=smtp_conn_id)
        self.conn: Any = None
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpHook:
        return self.get_conn()

    def __exit__(self, *exc_info: Any) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (OSError, smtplib.SMTPException):
                self._client.close()
            self._client = None

    # -- connection settings ----------------------------------------------------------
    def _extra(self, name: str, default: Any) -> Any:
        return self.conn.extra_dejson.get(name, default)

    @property
    def use_ssl(self) -> bool:
        return not _flag(self._extra("disable_ssl", False))

    @property
    def use_starttls(self) -> bool:
        return not self.use_ssl and not _flag(self._extra("disable_tls", False))

    @property
    def from_email(self) -> str | None:
        return self._extra("from_email", None)

    @property
    def where(self) -> str:
        port = self.conn.port or (smtplib.SMTP_SSL_PORT if self.use_ssl else smtplib.SMTP_PORT)
        return server_name(self.conn.host or "localhost", port)

    # -- the server connection --------------------------------------------------------
    def get_conn(self) -> SmtpHook:
        """Connect and log in (once); return the hook."""
        if self._client is not None:
            return self
        self.conn = self.get_connection(self.smtp_conn_id)
        retry_limit = int(self._extra("retry_limit", 5))
        for attempt in range(retry_limit + 1):
            try:
                self._client = self._connect()
                break
            except smtplib.SMTPServerDisconnected as exc:
                if attempt == retry_limit:
                    raise self._error("the server closed the connection", exc) from None
            except ssl.SSLError as exc:
                hint = (" (is it a plain SMTP port? set extra disable_ssl to true)"
                        if self.use_ssl else "")
                raise self._error(f"TLS failed: {exc.reason or exc}{hint}", exc) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise self._error(f"could not connect: {type(exc).__name__}: {exc}",
                                  exc) from None
        return self

    def _connect(self) -> smtplib.SMTP:
        host, port = self.conn.host or "localhost", self.conn.port or 0
        timeout = float(self._extra("timeout", 30))
        if self.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        try:
            if self.use_starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.conn.login and self.conn.password:
                try:
                    client.login(self.conn.login, self.conn.password)
                except smtplib.SMTPAuthenticationError as exc:
                    raise SmtpError(
                        f"connection {self.smtp_conn_id!r}: SMTP server {self.where} refused "
                        f"the login of user {self.conn.login!r} ({exc.smtp_code}); check the "
                        "connection's login and password") from None
        except BaseException:
            client.close()
            raise
        return client

    def _error(self, what: str, cause: BaseException | None = None) -> SmtpError:
        return SmtpError(f"connection {self.smtp_conn_id!r}: SMTP server {self.where}: {what}")

    # -- sending ----------------------------------------------------------------------
    def send_email_smtp(self, *, to: str | Iterable[str], subject: str, html_content: str,
                        from_email: str | None = None, files: list[str] | None = None,
                        dryrun: bool = False, cc: str | Iterable[str] | None = None,
                        bcc: str | Iterable[str] | None = None, mime_subtype: str = "mixed",
                        mime_charset: str = "utf-8",
                        custom_headers: dict[str, Any] | None = None) -> None:
        """Send an HTML message (with ``files`` attached) to ``to``, ``cc`` and ``bcc``.

        Addresses are lists or strings separated by commas or semicolons. Bcc
        addresses get the message but appear in no header. ``dryrun`` builds the
        message and sends nothing.
        """
        if self._client is None:
            self.get_conn()
        sender = from_email or self.from_email
        if not sender:
            raise SmtpError(f"connection {self.smtp_conn_id!r}: no sender; give from_email "
                            "or set from_email in the connection's extra")
        message, addresses = build_mime_message(
            sender, to, subject, html_content, files=files, cc=cc, bcc=bcc,
            mime_subtype=mime_subtype, mime_charset=mime_charset, custom_headers=custom_headers)
        if dryrun:
            return
        try:
            refused = self._client.sendmail(sender, list(addresses), message.as_string())
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._error(f"refused every recipient {sorted(exc.recipients)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise self._error(f"sending failed: {type(exc).__name__}: {exc}") from None
        if refused:
            raise self._error(f"refused recipients {sorted(refused)} (the others were sent "
                              "the message)")


def build_mime_message(sender: str, to: str | Iterable[str], subject: str, html_content: str,
                       *, files: list[str] | None = None, cc: str | Iterable[str] | None = None,
                       bcc: str | Iterable[str] | None = None, mime_subtype: str = "mixed",
                       mime_charset: str = "utf-8",
                       custom_headers: dict[str, Any] | None = None,
                       ) -> tuple[MIMEMultipart, tuple[str, ...]]:
    """The message and every address it goes to (to, cc and bcc, once each)."""
    to_list, cc_list, bcc_list = recipients(to), recipients(cc), recipients(bcc)
    if not to_list:
        raise SmtpError("no recipient addresses given in 'to'")
    message = MIMEMultipart(mime_subtype)
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to_list)
    if cc_list:
        message["CC"] = ", ".join(cc_list)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    for name, value in (custom_headers or {}).items():
        message[name] = str(value)
    message.attach(MIMEText(html_content, "html", mime_charset))
    for name in files or []:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SmtpError(f"cannot attach {name!r}: {exc.strerror or exc}") from None
        part = MIMEApplication(data, Name=path.name)
        part["Content-Disposition"] = f'attachment; filename="{path.name}"'
        message.attach(part)
    everyone = dict.fromkeys((*to_list, *cc_list, *bcc_list))
    return message, tuple(everyone)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)
