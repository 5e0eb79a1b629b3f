"""SmtpHook and EmailOperator against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pytest

from daskflow import DAG
from daskflow.hooks.smtp import SmtpError, SmtpHook
from daskflow.operators.email import EmailOperator
from daskflow.store import ConnectionRecord

PLAIN = {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@example.com",
         "timeout": 10}



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"DASKFLOW_CONN_{conn_id.upper()}",
                       json.dumps({"conn_type": "smtp", **fields}))


def test_hook_sends_html_with_cc_bcc_and_an_attachment(smtp_server, monkeypatch, tmp_path):
    _env_conn(monkeypatch, "smtp_default", host=smtp_server.host, port=smtp_server.port,
              login="mailer", password=smtp_server.password, extra=PLAIN)
    report = tmp_path / "report.csv"
    report.write_text("day,rows\n2024-01-02,42\n")

    with SmtpHook() as hook:
        hook.send_email_smtp(to="a@example.com; b@example.com", subject="Daily report",
                             html_content="<b>42</b> rows", cc=["c@example.com"],
                             bcc="hidden@example.com", files=[str(report)],
                             custom_headers={"X-Run": "7"})

    assert smtp_server.logins == [("mailer", smtp_server.password)]
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "airflow@example.com"
    assert sorted(envelope.rcpt_tos) == ["a@example.com", "b@example.com", "c@example.com",
                                         "hidden@example.com"]
    [message] = smtp_server.messages()
    assert message["To"] == "a@example.com, b@example.com" and message["Cc"] == "c@example.com"
    assert message["Bcc"] is None and "hidden@example.com" not in envelope.content.decode()
    assert message["Subject"] == "Daily report" and message["X-Run"] == "7"
    assert message.get_content_subtype() == "mixed"
    html, attachment = message.iter_parts()
    assert html.get_content_type() == "text/html" and html.get_content() == "<b>42</b> rows"
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_content() == report.read_bytes()


def test_wrong_password_fails_naming_the_conn_id_not_the_password(smtp_server, monkeypatch):
    wrong = "wrong-smtp-pw-5512"
    _env_conn(monkeypatch, "mail", host=smtp_server.host, port=smtp_server.port,
              login="mailer", password=wrong, extra=PLAIN)
    with pytest.raises(SmtpError) as caught, SmtpHook(smtp_conn_id="mail"):
        pass
    message = str(caught.value)
    assert "connection 'mail'" in message and "refused the login of user 'mailer'" in message
    assert f"127.0.0.1:{smtp_server.port}" in message and wrong not in message
    assert set(smtp_server.logins) == {("mailer", wrong)}
    assert len(smtp_server.login_peers) == 1


def test_unreachable_server_fails_naming_the_conn_id(monkeypatch):
    port = free_port()
    _env_conn(monkeypatch, "mail", host="127.0.0.1", port=port, extra=PLAIN)
    with pytest.raises(SmtpError, match=rf"connection 'mail': SMTP server 127.0.0.1:{port}: "
                                        "could not connect"):
        SmtpHook(smtp_conn_id="mail").get_conn()


def test_ssl_is_the_default_and_a_plain_server_says_how_to_turn_it_off(smtp_server,
                                                                         monkeypatch):
    _env_conn(monkeypatch, "mail", host=smtp_server.host, port=smtp_server.port,
              extra={"timeout": 10})
    hook = SmtpHook(smtp_conn_id="mail")
    with pytest.raises(SmtpError, match="TLS failed.*disable_ssl"):
        hook.get_conn()
    assert hook.use_ssl and not hook.use_starttls
    assert smtp_server.envelopes == []


def test_missing_sender_is_an_error(smtp_server, monkeypatch):
    _env_conn(monkeypatch, "mail", host=smtp_server.host, port=smtp_server.port,
              extra={"disable_ssl": True, "disable_tls": True})
    with SmtpHook(smtp_conn_id="mail") as hook, pytest.raises(SmtpError, match="from_email"):
        hook.send_email_smtp(to="a@example.com", subject="s", html_content="b")


# -- in runs ---------------------------------------------------------------------------
def test_email_operator_sends_a_templated_message_and_retries_a_refused_login(
        smtp_server, dask_client, db_url, store):
    for conn_id, password in (("smtp_default", smtp_server.password), ("bad_mail", "nope-4471")):
        store.set_connection(ConnectionRecord(
            conn_id=conn_id, conn_type="smtp", host=smtp_server.host, port=smtp_server.port,
            login="mailer", password=password, extra=json.dumps(PLAIN)))
    with DAG("mail_report", start_date=datetime(2024, 1, 1)) as dag:
        EmailOperator(task_id="send", to=["ops@example.com"], bcc="audit@example.com",
                      subject="Report for {{ ds }}", html_content="<p>run {{ run_id }}</p>",
                      mime_subtype="alternative")
        EmailOperator(task_id="refused", conn_id="bad_mail", to="ops@example.com",
                      subject="never", html_content="never", retries=1, retry_delay=0)
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)

    assert result.tasks["send"].state == "success", result.tasks["send"].error
    [message] = smtp_server.messages()
    assert message["Subject"] == "Report for 2024-01-02"
    assert message.get_content_subtype() == "alternative"
    [html] = message.iter_parts()
    assert html.get_content() == f"<p>run {result.run_id}</p>"
    assert sorted(smtp_server.envelopes[0].rcpt_tos) == ["audit@example.com",
                                                         "ops@example.com"]
    refused = result.tasks["refused"]
    assert refused.state == "failed" and refused.try_number == 2
    assert "connection 'bad_mail'" in refused.error and "nope-4471" not in refused.error
    assert ("mailer", "nope-4471") in smtp_server.logins
    # The good login and both tries of the bad one (the engine sometimes runs the last try
    # of a retried task twice when another task fails at the same time, hence >=).
    assert len(smtp_server.login_peers) >= 3
