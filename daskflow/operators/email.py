"""``EmailOperator``: send an e-mail as a task (Airflow's ``EmailOperator``).

The message goes through :class:`~daskflow.hooks.smtp.SmtpHook` with the
connection ``conn_id`` (``smtp_default``): its host, port, login and TLS
settings. The sender is ``from_email``, else the connection's ``from_email``
extra. Subject and body are templated (a body ending in ``.html`` is read from
the file). Any failure to deliver fails the task with the conn_id in the
error; it retries as the task's ``retries`` say.
"""

from __future__ import annotations

from typing import Any

from daskflow.hooks.smtp import SmtpHook
from daskflow.models.baseoperator import BaseOperator


class EmailOperator(BaseOperator):
    """Send ``html_content`` with ``subject`` to ``to`` (and ``cc``, ``bcc``)."""

    template_fields = ("to", "from_email", "subject", "html_content", "files", "cc", "bcc",
                       "mime_subtype", "mime_charset", "conn_id", "custom_headers")
    template_ext = (".html",)
    ui_color = "#e6faf9"

    def __init__(self, *, to: list[str] | str, subject: str, html_content: str,
                 from_email: str | None = None, files: list[str] | None = None,
                 cc: list[str] | str | None = None, bcc: list[str] | str | None = None,
                 mime_subtype: str = "mixed", mime_charset: str = "utf-8",
                 conn_id: str = "smtp_default", custom_headers: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.from_email = from_email
        self.files = files or []
        self.cc = cc
        self.bcc = bcc
        self.mime_subtype = mime_subtype
        self.mime_charset = mime_charset
        self.conn_id = conn_id
        self.custom_headers = custom_headers

    def execute(self, context: dict[str, Any]) -> None:
        with SmtpHook(smtp_conn_id=self.conn_id) as hook:
            print(f"Sending e-mail {self.subject!r} through connection {self.conn_id!r} "
                  f"({hook.where})")
            hook.send_email_smtp(to=self.to, subject=self.subject,
                                 html_content=self.html_content, from_email=self.from_email,
                                 files=self.files, cc=self.cc, bcc=self.bcc,
                                 mime_subtype=self.mime_subtype, mime_charset=self.mime_charset,
                                 custom_headers=self.custom_headers)
        print("Sent.")
