"""Send one plain-text e-mail through an SMTP server.

One connection per message: notices are rare, and a connection held open
between failures would only time out on the server's side. Every way the
delivery can go wrong (no server, TLS refused, bad login, recipients refused)
becomes one :class:`NotificationError` that names the server as ``host:port``;
the password never appears in it.

``ssl=True`` speaks TLS from the first byte (usually port 465); ``starttls=True``
upgrades a plain connection (usually port 587). Both verify the server's
certificate against the system's trust store.
"""

from __future__ import annotations

import smtplib
import ssl as ssl_module
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from daskflow.notifications.errors import NotificationError


def server_name(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets.

    >>> server_name("::1", 25)
    '[::1]:25'
    """
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def recipients(to: str | Sequence[str] | None) -> tuple[str, ...]:
    """Addresses from a list, or from one string separated by commas or semicolons.

    Airflow accepts ``email="a@x, b@y"`` as well as a list, so both are read here.

    >>> recipients("a@x, b@y;a@x")
    ('a@x', 'b@y')
    """
    if not to:
        return ()
    items = [to] if isinstance(to, str) else list(to)
    found: dict[str, None] = {}
    for item in items:
        for address in str(item).replace(";", ",").split(","):
            if address.strip():
                found[address.strip()] = None
    return tuple(found)


def build_message(to: Sequence[str], subject: str, body: str, sender: str) -> EmailMessage:
    """The message as sent: one line of subject, a UTF-8 plain-text body."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate(localtime=True)
    # The sender's domain, not socket.getfqdn(): no DNS lookup just to name a message.
    domain = sender.rpartition("@")[2].strip("> ") or "daskflow.localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    return message


def send_email(
    to: Sequence[str],
    subject: str,
    body: str,
    *,
    host: str,
    port: int,
    sender: str,
    username: str | None = None,
    password: str | None = None,
    starttls: bool = False,
    ssl: bool = False,
    timeout: float = 10,
    local_hostname: str | None = None,
) -> None:
    """Send ``body`` to every address in ``to``; raise :class:`NotificationError` if not all got it.

    ``local_hostname`` is the name given in ``EHLO``; ``None`` lets smtplib ask the
    system for its fully qualified name.
    """
    where = server_name(host, port)
    addresses = recipients(to)
    if not addresses:
        raise NotificationError(f"e-mail via {where} not sent: no recipient addresses given")
    if ssl and starttls:
        raise NotificationError(
            f"e-mail via {where} not sent: choose ssl (TLS from the start, usually port 465) "
            "or starttls (upgrade, usually port 587), not both"
        )
    message = build_message(addresses, subject, body, sender)
    try:
        refused = _deliver(message, host, port, username, password, starttls, ssl, timeout,
                           local_hostname)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotificationError(
            f"SMTP server {where} refused the login of user {username!r} "
            f"({exc.smtp_code}); check the username and password"
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise NotificationError(
            f"could not send e-mail via SMTP server {where}: {type(exc).__name__}: {exc}"
        ) from exc
    if refused:
        raise NotificationError(
            f"SMTP server {where} refused recipients {sorted(refused)} "
            f"(the others were sent the message)"
        )


def _deliver(
    message: EmailMessage,
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    starttls: bool,
    ssl: bool,
    timeout: float,
    local_hostname: str | None,
) -> dict:
    context = ssl_module.create_default_context() if (ssl or starttls) else None
    if ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context,
                                                local_hostname=local_hostname)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout, local_hostname=local_hostname)
    with client:
        if starttls:
            client.starttls(context=context)
        if username:
            client.login(username, password or "")
        return client.send_message(message)
