"""The secrets registry and every text daskflow shows that goes through it, in one process.

The registry is process-wide and never forgets, so each test registers
secrets of its own (``_secret()``) and never a text another test expects to see.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

import dask.config
import pytest

import daskflow
from daskflow.cli.output import emit_json, render
from daskflow.execution.capture import CappedLog, capture, redacting_streams
from daskflow.execution.outcome import describe_error, display
from daskflow.notifications import Notice, render_subject, render_text, slack_payload
from daskflow.secrets import (
    MASK,
    is_sensitive_name,
    mask_secret,
    redact,
    redact_value,
    register_connection,
    register_variable,
)
from daskflow.secrets.masking import mark, registered_since


def _secret(prefix: str = "s3cr3t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_the_public_name_is_the_registry_function():
    assert daskflow.mask_secret is mask_secret


def test_a_registered_string_is_replaced_wherever_it_appears():
    secret = _secret()
    assert redact(f"login with {secret}!") == f"login with {secret}!"
    mask_secret(secret)
    assert redact(f"login with {secret}! and {secret}") == "login with ***! and ***"
    assert redact(None) is None and redact(3) == 3


def test_escaped_and_quoted_forms_are_hidden_too():
    secret = _secret('pa"ss w/rd\\')
    mask_secret(secret)
    assert redact(json.dumps({"pw": secret})) == '{"pw": "***"}'
    assert redact(repr(secret)) == "'***'"
    assert redact(f"postgresql://ada:{quote(secret, safe='')}@db/x") == "postgresql://ada:***@db/x"


def test_the_longest_secret_wins_when_one_contains_another():
    short = _secret("inner")
    long = f"outer-{short}-tail"
    mask_secret(short)
    mask_secret(long)
    assert redact(f"[{long}] [{short}]") == "[***] [***]"


def test_short_values_and_non_strings_are_not_registered():
    before = mark()
    mask_secret("abcd")
    mask_secret(12345)
    mask_secret(None)
    assert registered_since(before) == ()
    assert redact("abcd 12345") == "abcd 12345"


def test_names_decide_for_named_values_dicts_and_lists():
    host, password, token, plain = _secret("host"), _secret("pw"), _secret("tok"), _secret("p")
    mask_secret(host, name="host")
    mask_secret({"host": host, "db_password": password, "nested": {"API_TOKEN": [token]}})
    mask_secret([plain])
    assert redact(f"{host} {password} {token} {plain}") == f"{host} *** *** ***"


@pytest.mark.parametrize("name", ["password", "DB_PASSWORD", "api_key", "apikey", "x-token",
                                  "private_key", "service_account_json", "my_secret", "passwd",
                                  "Authorization", "passphrase", "keyfile_dict", "access_token"])
def test_sensitive_names(name):
    assert is_sensitive_name(name)


def test_other_names_are_not_sensitive_unless_configured():
    assert not is_sensitive_name("host") and not is_sensitive_name(None)
    assert not is_sensitive_name("pin_code")
    with dask.config.set({"daskflow.sensitive-var-conn-names": "pin_code, otp"}):
        assert is_sensitive_name("PIN_CODE") and is_sensitive_name("otp_seed")
    with dask.config.set({"daskflow.sensitive-var-conn-names": ["pin_code"]}):
        assert is_sensitive_name("pin_code")
    assert not is_sensitive_name("pin_code")


def test_connections_hide_the_password_the_extra_and_its_secret_keys():
    password, key = _secret("pw"), _secret("key")
    extra = json.dumps({"region": "eu-west-1", "private_key": key})
    register_connection(password=password, extra=extra)
    assert redact(f"{password} {key} {extra}") == "*** *** ***"
    assert "eu-west-1" in redact("region eu-west-1")


def test_variables_hide_values_of_sensitive_keys_only():
    value, inner, public = _secret("v"), _secret("i"), _secret("pub")
    register_variable("slack_token", value)
    register_variable("settings", json.dumps({"url": "https://x", "password": inner}))
    register_variable("bucket", public)
    assert redact(f"{value} {inner} {public}") == f"*** *** {public}"


def test_redact_value_masks_sensitive_columns_and_keeps_entries_named_like_them():
    secret = _secret()
    mask_secret(secret)
    row = {"password": "plain-text", "token_count": 7, "note": f"uses {secret}",
           "tasks": {"fetch_token": {"state": "success", "apikey": None}}, "ok": True}
    assert redact_value(row) == {"password": MASK, "token_count": MASK, "note": "uses ***",
                                 "tasks": {"fetch_token": {"state": "success", "apikey": None}},
                                 "ok": True}


def test_capped_log_hides_secrets_written_whole_in_pieces_or_before_registration():
    early, whole, split = _secret("early"), _secret("whole"), _secret("split")
    mask_secret(whole)
    mask_secret(split)
    log = CappedLog(limit=10_000)
    log.write(f"early {early}\n")
    log.write(f"whole {whole}\n")
    log.write(split[:4])
    log.write(split[4:] + "\n")
    assert log.write("x" * 3) == 3
    mask_secret(early)
    assert log.getvalue() == "early ***\nwhole ***\n***\nxxx"


def test_capture_hides_prints_and_logging():
    import logging

    secret = _secret()
    mask_secret(secret)
    with capture() as log:
        print("printed", secret)
        logging.getLogger("user.code").warning("logged %s", secret)
    text = log.getvalue()
    assert secret not in text and "printed ***" in text and "logged ***" in text


def test_redacting_streams_hide_what_tasks_test_prints(capsys):
    secret = _secret()
    mask_secret(secret)
    with redacting_streams():
        print("value", secret)
    assert capsys.readouterr().out == "value ***\n"


def test_error_summaries_and_display_copies_are_redacted():
    secret = _secret()
    mask_secret(secret)
    assert describe_error(ValueError(f"login refused for {secret}")) == \
        "ValueError: login refused for ***"
    assert display({"pw": secret}) == '{"pw": "***"}'
    # Redacted before it is cut, so no tail of a secret survives at the cut.
    assert secret[:5] not in display("x" * 1995 + secret)


def test_notices_hide_secrets_in_every_rendering():
    secret = _secret()
    mask_secret(secret)
    notice = Notice(kind="task_failed", dag_id="etl", run_id=f"manual__{secret}",
                    task_id="load", error=f"ValueError: bad {secret}",
                    log_tail=f"line 1\nconnecting with {secret}\n",
                    logical_date=datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert notice.error == "ValueError: bad ***" and secret not in notice.log_tail
    run_notice = Notice(kind="run_failed", dag_id="etl", run_id=f"manual__{secret}",
                        logical_date=datetime(2024, 1, 1, tzinfo=timezone.utc))
    for text in (render_subject(run_notice), render_text(notice),
                 json.dumps(slack_payload(notice))):
        assert secret not in text
        assert MASK in text


def test_cli_tables_and_json_hide_secrets_and_sensitive_columns(capsys):
    secret = _secret()
    mask_secret(secret)
    rows = [{"conn_id": "db", "password": "not-registered", "extra": {"key": secret},
             "tries": [f"failed: {secret}"], "at": datetime(2024, 1, 1)}]
    columns = ["conn_id", "password", "extra", "tries", "at"]
    render(rows, columns, "json")
    [data] = json.loads(capsys.readouterr().out)
    assert data == {"conn_id": "db", "password": MASK, "extra": {"key": MASK},
                    "tries": ["failed: ***"], "at": "2024-01-01T00:00:00"}
    render(rows, columns, "table")
    table = capsys.readouterr().out
    assert secret not in table and "not-registered" not in table
    assert table.splitlines()[2].split()[:2] == ["db", MASK]
    emit_json({"error": f"ValueError: {secret}"})
    assert json.loads(capsys.readouterr().out) == {"error": "ValueError: ***"}


def test_a_secret_spelled_like_a_form_of_another_still_travels_on():
    first = _secret("a b")
    mask_secret(first)
    point = mark()
    quoted = quote(first, safe="")
    mask_secret(quoted)  # hidden already, as a form of the first; registered all the same
    assert registered_since(point) == (quoted,)
