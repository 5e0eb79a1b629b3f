"""SlackWebhookHook and SlackWebhookOperator against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pytest

from daskflow import DAG
from daskflow.hooks.webhook import SlackWebhookError, SlackWebhookHook
from daskflow.operators.webhook import SlackWebhookOperator
from daskflow.store import ConnectionRecord

TOKEN = "T0001/B0002/sEcReTwebhookTOKEN88"


def _env_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"DASKFLOW_CONN_{conn_id.upper()}",
                       json.dumps({"conn_type": "slackwebhook", **fields}))


def test_host_and_password_token_make_the_url_and_the_json_body(http_api, monkeypatch):
    _env_conn(monkeypatch, "slack_default", host="127.0.0.1", schema="http",
              port=http_api.port, password=TOKEN)
    http_api.answer(f"/{TOKEN}", (200, "ok"))
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}]

    status = SlackWebhookHook().send(text="load done", blocks=blocks, channel="#data",
                                     username="daskflow", icon_emoji=None)

    assert status == 200
    [request] = http_api.requests
    assert request.method == "POST" and request.path == f"/{TOKEN}"
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.body) == {"text": "load done", "blocks": blocks,
                                        "channel": "#data", "username": "daskflow"}


@pytest.mark.parametrize("where", ["extra", "password"])
def test_a_full_url_in_extra_or_password_is_used_as_it_is(http_api, monkeypatch, where):
    url = f"{http_api.base_url}/hooks/{TOKEN}"
    fields = {"extra": {"webhook_url": url}} if where == "extra" else {"password": url}
    _env_conn(monkeypatch, "alerts", host="ignored.invalid", **fields)
    http_api.answer(f"/hooks/{TOKEN}", (200, "ok"))
    assert SlackWebhookHook(slack_webhook_conn_id="alerts").send_text("hi") == 200
    assert json.loads(http_api.requests[0].body) == {"text": "hi"}


def test_a_4xx_fails_at_once_with_the_answer_and_no_token(http_api, monkeypatch):
    _env_conn(monkeypatch, "alerts", host=http_api.base_url, password=TOKEN)
    http_api.answer(f"/{TOKEN}", (403, "invalid_token"))
    with pytest.raises(SlackWebhookError) as caught:
        SlackWebhookHook(slack_webhook_conn_id="alerts", retry_delay=0).send_text("hi")
    message = str(caught.value)
    assert message.startswith("connection 'alerts': ") and "403" in message
    assert "invalid_token" in message and "sEcReT" not in message
    assert len(http_api.requests) == 1


def test_a_5xx_is_tried_twice_then_fails(http_api, monkeypatch):
    _env_conn(monkeypatch, "alerts", host=http_api.base_url, password=TOKEN)
    http_api.answer(f"/{TOKEN}", (500, "down"))
    with pytest.raises(SlackWebhookError, match="connection 'alerts'.*500.*tried twice"):
        SlackWebhookHook(slack_webhook_conn_id="alerts", retry_delay=0).send_text("hi")
    assert len(http_api.requests) == 2


def test_unreachable_missing_token_and_empty_message_are_clear_errors(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _env_conn(monkeypatch, "down", host="127.0.0.1", schema="http", port=port,
              password=TOKEN)
    hook = SlackWebhookHook(slack_webhook_conn_id="down", retry_delay=0, timeout=5)
    with pytest.raises(SlackWebhookError, match="connection 'down'.*could not connect") as c:
        hook.send_text("hi")
    assert "sEcReT" not in str(c.value)
    with pytest.raises(SlackWebhookError, match="needs text, blocks or attachments"):
        hook.send(text="")
    _env_conn(monkeypatch, "empty", host="127.0.0.1")
    with pytest.raises(SlackWebhookError, match="connection 'empty' has no webhook"):
        SlackWebhookHook(slack_webhook_conn_id="empty").send_text("hi")


def test_operator_posts_a_templated_message_and_fails_clearly(
        http_api, dask_client, db_url, store):
    for conn_id, token in (("slack_default", TOKEN), ("bad_slack", "T9/B9/revokedTOKEN77")):
        store.set_connection(ConnectionRecord(conn_id=conn_id, conn_type="slackwebhook",
                                                  host=http_api.base_url, password=token))
    http_api.answer(f"/{TOKEN}", (200, "ok"))
    with DAG("slack_notice", start_date=datetime(2024, 1, 1)) as dag:
        SlackWebhookOperator(task_id="notify", message="Loaded {{ ds }}", channel="#etl",
                             username="daskflow")
        SlackWebhookOperator(task_id="revoked", slack_webhook_conn_id="bad_slack",
                             message="never", retries=1, retry_delay=0)
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)

    assert result.tasks["notify"].state == "success", result.tasks["notify"].error
    [sent] = http_api.calls(f"/{TOKEN}")
    assert json.loads(sent.body) == {"text": "Loaded 2024-01-02", "channel": "#etl",
                                     "username": "daskflow"}
    revoked = result.tasks["revoked"]
    assert revoked.state == "failed" and revoked.try_number == 2
    assert "connection 'bad_slack'" in revoked.error and "404" in revoked.error
    assert "revokedTOKEN77" not in revoked.error
    # At least one post per try (the engine sometimes runs the last try of a retried task
    # twice when another task fails at the same time).
    assert len(http_api.calls("/T9/B9/revokedTOKEN77")) >= 2
