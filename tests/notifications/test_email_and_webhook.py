"""Failure notices against real servers on 127.0.0.1: an aiosmtpd SMTP server and an HTTP server.

Each server records what it received before it answers, so once a send has
returned the record is there: no test waits or sleeps. Nothing leaves the
loopback interface: proxies are switched off, the SMTP client greets as
``localhost`` and the servers are bound to 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dask.config
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from daskflow.models.baseoperator import BaseOperator
from daskflow.models.dag import DAG
from daskflow.notifications import (
    EmailTarget,
    Notice,
    NotificationError,
    Notifier,
    NotifierSettings,
    WebhookTarget,
    notices_for_run,
    notices_for_task,
    post_webhook,
    render_subject,
    send_email,
)

LOGICAL_DATE = datetime(2024, 5, 1, tzinfo=timezone.utc)
LOG = "\n".join(f"log line {i}" for i in range(100))
ERROR = "ValueError: the extract returned no rows"
SECRET = "XyZsecretTOKEN123"


# -- servers ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Inbox:
    """An aiosmtpd handler keeping every envelope and every login it accepted."""

    envelopes: list = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=password == "right-password", handled=False)

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(e.content, policy=default_policy) for e in self.envelopes]


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox


def _start_smtp(**smtp_options) -> tuple[Controller, SmtpServer]:
    inbox = Inbox()
    if smtp_options.pop("with_auth", False):
        smtp_options.update(authenticator=inbox.authenticate, auth_require_tls=False)
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port,
                            server_hostname="localhost", **smtp_options)
    controller.start()
    return controller, SmtpServer("127.0.0.1", port, inbox)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    controller, server = _start_smtp()
    yield server
    controller.stop()


@pytest.fixture
def smtp_server_with_login() -> Iterator[SmtpServer]:
    controller, server = _start_smtp(with_auth=True)
    yield server
    controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HttpServer:
    base_url: str
    received: list[Received] = field(default_factory=list)
    #: Statuses to answer with, in order; 200 once they run out.
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    state = HttpServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(Received(self.path, dict(self.headers), body))
            status = state.statuses.pop(0) if state.statuses else 200
            # An error body that echoes the request path, as some servers do.
            answer = b"ok" if status < 400 else f"no such hook {self.path}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy may carry a test's request off this machine."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# -- DAGs and settings -----------------------------------------------------------------
def _settings(smtp: SmtpServer | None = None, **changes) -> NotifierSettings:
    port = smtp.port if smtp is not None else _free_port()
    base = NotifierSettings(smtp_host="127.0.0.1", smtp_port=port, sender="daskflow@test.local",
                            local_hostname="localhost", smtp_timeout=5, webhook_timeout=5,
                            webhook_retry_delay=0)
    return replace(base, **changes)


def _dag(dag_id: str = "etl", **default_args) -> tuple[DAG, BaseOperator]:
    with DAG(dag_id, default_args=default_args) as dag:
        task = BaseOperator(task_id="load")
    return dag, task


def _failed(task: BaseOperator, **changes) -> Notice:
    [notice] = notices_for_task(task, "failed", run_id="manual__1", logical_date=LOGICAL_DATE,
                                try_number=3, error=ERROR, log=LOG, **changes)
    return notice


def _retry(task: BaseOperator) -> Notice:
    [notice] = notices_for_task(task, "up_for_retry", run_id="manual__1",
                                logical_date=LOGICAL_DATE, try_number=1, error=ERROR, log=LOG)
    return notice


# -- e-mail ----------------------------------------------------------------------------
def test_task_failure_email_reaches_the_smtp_server(smtp_server: SmtpServer) -> None:
    dag, task = _dag(email=["ops@example.com", "oncall@example.com"])
    notice = _failed(task, url="http://127.0.0.1:8787/daskflow/runs/etl/manual__1")

    with Notifier(_settings(smtp_server)) as notifier:
        results = notifier.notify(task, notice).result(timeout=60)

    target = EmailTarget(("ops@example.com", "oncall@example.com"))
    assert results == [(target, None)]
    [envelope] = smtp_server.inbox.envelopes
    assert envelope.mail_from == "daskflow@test.local"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    [message] = smtp_server.inbox.messages()
    assert message["Subject"] == "[daskflow] Task failed: etl.load (try 3)"
    assert message["To"] == "ops@example.com, oncall@example.com"
    body = message.get_content()
    assert ERROR in body
    assert "log line 99" in body and "log line 70" in body
    assert "log line 69" not in body  # only the last 30 lines travel
    assert "http://127.0.0.1:8787/daskflow/runs/etl/manual__1" in body
    assert "Try:          3" in body


def test_email_login_uses_configured_credentials(smtp_server_with_login: SmtpServer) -> None:
    smtp = smtp_server_with_login
    _, task = _dag(email="ops@example.com")
    options = {
        "daskflow.notifications.smtp.host": smtp.host,
        "daskflow.notifications.smtp.port": str(smtp.port),
        "daskflow.notifications.smtp.sender": "alerts@test.local",
        "daskflow.notifications.smtp.username": "daskflow",
        "daskflow.notifications.smtp.password": "right-password",
        "daskflow.notifications.smtp.local-hostname": "localhost",
    }
    with dask.config.set(options):
        notifier = Notifier()
    with notifier:
        results = notifier.send(_failed(task), [EmailTarget(("ops@example.com",))])

    assert results == [(EmailTarget(("ops@example.com",)), None)]
    assert smtp.inbox.logins == [("daskflow", "right-password")]
    [envelope] = smtp.inbox.envelopes
    assert envelope.mail_from == "alerts@test.local"
    assert "right-password" not in repr(notifier.settings)


def test_wrong_password_is_a_clear_error(smtp_server_with_login: SmtpServer) -> None:
    smtp = smtp_server_with_login
    with pytest.raises(NotificationError, match="refused the login of user 'daskflow'") as info:
        send_email(["ops@example.com"], "s", "b", host=smtp.host, port=smtp.port,
                   sender="a@test.local", username="daskflow", password="wrong-password",
                   local_hostname="localhost")
    assert "wrong-password" not in str(info.value)
    assert smtp.inbox.envelopes == []


def test_unreachable_smtp_server_raises_naming_host_and_port() -> None:
    port = _free_port()  # nothing listens there
    with pytest.raises(NotificationError, match=rf"SMTP server 127\.0\.0\.1:{port}"):
        send_email(["ops@example.com"], "subject", "body", host="127.0.0.1", port=port,
                   sender="daskflow@test.local", timeout=5, local_hostname="localhost")


# -- webhook ---------------------------------------------------------------------------
def test_webhook_receives_a_slack_compatible_message(http_server: HttpServer) -> None:
    url = f"{http_server.base_url}/services/T0/B0/{SECRET}"
    _, task = _dag(webhook_url=url)

    with Notifier(_settings()) as notifier:
        notice = _failed(task)
        targets = notifier.targets_for(task, notice)
        results = notifier.submit(notice, targets).result(timeout=60)

    assert results == [(WebhookTarget(url), None)]
    [request] = http_server.received
    assert request.path == f"/services/T0/B0/{SECRET}"
    assert request.headers["Content-Type"].startswith("application/json")
    payload = request.json()
    assert "'load'" in payload["text"] and "'etl'" in payload["text"]
    header, details, error, log = payload["blocks"]
    assert header == {"type": "header",
                      "text": {"type": "plain_text", "text": "Task failed: etl.load (try 3)"}}
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in details["fields"]}
    assert fields["*DAG*"] == "etl" and fields["*Task*"] == "load" and fields["*Try*"] == "3"
    assert error["type"] == "section" and ERROR in error["text"]["text"]
    log_text = log["text"]["text"]
    assert log_text.endswith("log line 99```") and "```log line 70\n" in log_text
    assert "log line 69" not in log_text


def test_webhook_server_error_is_retried_once_then_raised(http_server: HttpServer) -> None:
    http_server.statuses = [500, 503]
    url = f"{http_server.base_url}/services/T0/B0/{SECRET}?token=qwerty123"

    with pytest.raises(NotificationError) as info:
        post_webhook(url, {"text": "x"}, retry_delay=0)

    assert len(http_server.received) == 2
    message = str(info.value)
    assert f"{http_server.base_url}/***?***" in message and "HTTP 503" in message
    assert SECRET not in message and "qwerty123" not in message


def test_webhook_server_error_then_success_returns_status(http_server: HttpServer) -> None:
    http_server.statuses = [502, 204]
    assert post_webhook(f"{http_server.base_url}/hook", {"text": "x"}, retry_delay=0) == 204
    assert [r.json() for r in http_server.received] == [{"text": "x"}, {"text": "x"}]


def test_webhook_client_error_is_not_retried(http_server: HttpServer) -> None:
    http_server.statuses = [404]
    url = f"{http_server.base_url}/services/T0/B0/{SECRET}"

    with pytest.raises(NotificationError, match="HTTP 404") as info:
        post_webhook(url, {"text": "x"}, retry_delay=0)

    assert len(http_server.received) == 1
    # The server echoed the path in its answer; the excerpt in the error hides the token.
    assert "no such hook" in str(info.value) and SECRET not in str(info.value)


def test_unreachable_webhook_raises_with_masked_url() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/services/T0/B0/{SECRET}"
    with pytest.raises(NotificationError, match="could not connect") as info:
        post_webhook(url, {"text": "x"}, timeout=5, retry_delay=0)
    assert f"http://127.0.0.1:{port}/***" in str(info.value)
    assert SECRET not in str(info.value)


# -- Notifier.send reports, never raises -------------------------------------------------
def test_send_reports_each_failure_and_logs_it(
    http_server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.statuses = [500, 500]
    url = f"{http_server.base_url}/services/T0/B0/{SECRET}"
    _, task = _dag(email="ops@example.com", webhook_url=url)
    settings = _settings()  # an SMTP port nobody listens on

    with Notifier(settings) as notifier, caplog.at_level(logging.INFO, "daskflow.notifications"):
        notice = _failed(task)
        results = notifier.send(notice, notifier.targets_for(task, notice))

    [(email_target, email_error), (hook_target, hook_error)] = results
    assert email_target == EmailTarget(("ops@example.com",))
    assert isinstance(email_error, NotificationError)
    assert f"127.0.0.1:{settings.smtp_port}" in str(email_error)
    assert hook_target == WebhookTarget(url)
    assert isinstance(hook_error, NotificationError) and "HTTP 500" in str(hook_error)
    assert len(http_server.received) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("etl.load" in w for w in warnings)
    assert SECRET not in caplog.text


def test_webhook_target_hides_its_url() -> None:
    target = WebhookTarget(f"https://hooks.example.invalid/services/T0/B0/{SECRET}")
    assert SECRET not in repr(target) and SECRET not in str(target)
    assert SECRET not in repr(_settings(webhook_url=f"https://h.invalid/{SECRET}"))


# -- who is told what --------------------------------------------------------------------
def test_email_on_failure_false_sends_no_email() -> None:
    _, task = _dag(email="ops@example.com", email_on_failure=False)
    notifier = Notifier(_settings())
    assert notifier.targets_for(task, _failed(task)) == []
    notifier.close()


def test_retry_notice_emails_only_when_email_on_retry() -> None:
    with DAG("etl") as dag:
        loud = BaseOperator(task_id="loud", email="ops@example.com")
        quiet = BaseOperator(task_id="quiet", email="ops@example.com", email_on_retry=False)
    with Notifier(_settings()) as notifier:
        assert notifier.targets_for(loud, _retry(loud)) == [EmailTarget(("ops@example.com",))]
        assert notifier.targets_for(quiet, _retry(quiet)) == []
        # A failure for good still reaches the quiet task's address.
        assert notifier.targets_for(dag, _failed(quiet)) == [EmailTarget(("ops@example.com",))]


def test_no_email_address_means_no_email_target() -> None:
    _, task = _dag()
    with Notifier(_settings()) as notifier:
        assert notifier.targets_for(task, _failed(task)) == []


def test_webhook_url_comes_from_task_then_dag_then_config() -> None:
    with dask.config.set({"daskflow.notifications.webhook-url": "https://config.invalid/h"}):
        notifier = Notifier()
    with notifier:
        _, plain = _dag()
        assert notifier.targets_for(plain, _failed(plain)) == [
            WebhookTarget("https://config.invalid/h")]
        _, from_dag = _dag(webhook_url="https://dag.invalid/h")
        assert notifier.targets_for(from_dag, _failed(from_dag)) == [
            WebhookTarget("https://dag.invalid/h")]
        from_dag.webhook_url = "https://task.invalid/h"
        assert notifier.targets_for(from_dag, _failed(from_dag)) == [
            WebhookTarget("https://task.invalid/h")]


def test_webhooks_get_retries_only_when_configured() -> None:
    _, task = _dag(webhook_url="https://dag.invalid/h")
    with Notifier(_settings()) as notifier:
        assert notifier.targets_for(task, _retry(task)) == []
    with Notifier(_settings(webhook_kinds=frozenset({"task_retry"}))) as notifier:
        assert notifier.targets_for(task, _retry(task)) == [WebhookTarget("https://dag.invalid/h")]
        assert notifier.targets_for(task, _failed(task)) == []


def test_run_failure_emails_the_dags_default_args_address() -> None:
    dag, _ = _dag(email=["owner@example.com"])
    [failed] = notices_for_run(dag, "failed", run_id="manual__1", logical_date=LOGICAL_DATE)
    [succeeded] = notices_for_run(dag, "success", run_id="manual__1", logical_date=LOGICAL_DATE)
    muted, _ = _dag("muted", email=["owner@example.com"], email_on_failure=False)
    [muted_failed] = notices_for_run(muted, "failed", run_id="r", logical_date=LOGICAL_DATE)
    with Notifier(_settings()) as notifier:
        assert notifier.targets_for(dag, failed) == [EmailTarget(("owner@example.com",))]
        assert notifier.targets_for(dag, succeeded) == []
        assert notifier.targets_for(muted, muted_failed) == []
    assert render_subject(failed) == "[daskflow] DAG run failed: etl (manual__1)"


def test_only_failed_and_up_for_retry_make_task_notices() -> None:
    _, task = _dag()
    for state in ("success", "running", "skipped", "upstream_failed"):
        assert notices_for_task(task, state, run_id="r", logical_date=LOGICAL_DATE) == []
    assert notices_for_run(task.dag, "running", run_id="r", logical_date=LOGICAL_DATE) == []
    notice = _failed(task, map_index=4)
    assert notice.kind == "task_failed" and notice.log_tail.count("\n") == 29
    assert render_subject(notice) == "[daskflow] Task failed: etl.load[4] (try 3)"
    assert _retry(task).kind == "task_retry"


def test_bad_settings_name_the_option() -> None:
    with dask.config.set({"daskflow.notifications.smtp.port": "twenty-five"}):
        with pytest.raises(NotificationError, match=r"notifications\.smtp\.port"):
            NotifierSettings.from_config()
    with dask.config.set({"daskflow.notifications.smtp.starttls": "maybe"}):
        with pytest.raises(NotificationError, match=r"notifications\.smtp\.starttls"):
            NotifierSettings.from_config()
    with pytest.raises(NotificationError, match="unknown kinds"):
        NotifierSettings(webhook_kinds=frozenset({"task_sucess"}))


# -- secrets ---------------------------------------------------------------------------
def test_registered_secrets_never_reach_the_mailbox_or_the_webhook(
        smtp_server: SmtpServer, http_server: HttpServer) -> None:
    from daskflow.secrets import mask_secret

    secret = "notice-" + "hunter4-secret"
    mask_secret(secret)
    _, task = _dag(email=["ops@example.com"], webhook_url=f"{http_server.base_url}/hook")
    [notice] = notices_for_task(task, "failed", run_id="manual__1", logical_date=LOGICAL_DATE,
                                try_number=1, error=f"ValueError: login refused for {secret}",
                                log=f"connecting\npassword={secret}\n")

    with Notifier(_settings(smtp_server)) as notifier:
        results = notifier.submit(notice, notifier.targets_for(task, notice)).result(timeout=60)

    assert [error for _, error in results] == [None, None]
    [message] = smtp_server.inbox.messages()
    body = message.get_content()
    assert "ValueError: login refused for ***" in body and "password=***" in body
    [request] = http_server.received
    assert "login refused for ***" in request.body.decode()
    for raw in (smtp_server.inbox.envelopes[0].content, request.body):
        assert secret.encode() not in raw
