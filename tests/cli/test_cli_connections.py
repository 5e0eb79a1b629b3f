"""``daskflow connections`` and ``daskflow variables`` through click's CliRunner, on a
SQLite store in tmp_path (and a real HTTP server for ``connections test``)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from daskflow.cli.main import cli
from daskflow.store import Store

KEY = Fernet.generate_key().decode()


def invoke(env: dict[str, Any], *args: Any, input: str | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False,
                                     input=input)


def error(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> dict[str, Any]:
    monkeypatch.setenv("DASKFLOW_FERNET_KEY", KEY)  # for the Store opened by a test itself
    return {"DASKFLOW_HOME": str(tmp_path / "home"), "DASKFLOW_DB": None, "CI": None,
            "DASKFLOW_FERNET_KEY": KEY, "DASKFLOW_CONN_SALES": None,
            "DASKFLOW_VAR_REGION": None}


@pytest.fixture
def db(env: dict[str, Any]) -> Path:
    return Path(env["DASKFLOW_HOME"]) / "daskflow.db"


def test_add_get_list_never_show_the_password(env, db) -> None:
    added = invoke(env, "connections", "add", "sales", "--conn-uri",
                   "postgres://me:s3cr%40t@db.local:5432/public?sslmode=require")
    assert added.exit_code == 0, added.stderr
    assert added.stdout == "Connection sales added (postgres)\n"
    assert added.stderr == ""  # a key is set: no warning
    invoke(env, "connections", "add", "api", "--conn-type", "http", "--conn-host", "api.local",
           "--conn-password", "tok", "--conn-extra", '{"timeout": 5, "api_key": "k3y"}')
    listed = invoke(env, "connections", "list", "-o", "json")
    assert "s3cr" not in listed.stdout and "tok" not in listed.stdout and "k3y" not in listed.stdout
    rows = {r["conn_id"]: r for r in json.loads(listed.stdout)}
    assert rows["sales"]["password"] == "***" and rows["sales"]["is_encrypted"] is True
    assert rows["api"]["extra"] == {"timeout": 5, "api_key": "***"}
    table = invoke(env, "connections", "list").stdout
    assert "db.local" in table and "s3cr" not in table
    got = json.loads(invoke(env, "connections", "get", "sales", "-o", "json").stdout)
    assert got["login"] == "me" and got["password"] == "***"
    assert got["extra"] == {"sslmode": "require"}
    assert Store(f"sqlite:///{db}").get_connection("sales").password == "s3cr@t"


def test_add_without_a_key_warns_and_stores_in_clear(env, db) -> None:
    env["DASKFLOW_FERNET_KEY"] = None
    added = invoke(env, "connections", "add", "api", "--conn-uri", "http://h")
    assert added.exit_code == 0
    assert "no Fernet key is set" in added.stderr
    assert Store(f"sqlite:///{db}").get_connection("api").is_encrypted is False


def test_bad_input_is_one_error_naming_the_conn_id(env) -> None:
    assert "connection 'bad': URI 'postgres://u:***@h:x/db' is not valid" in error(
        invoke(env, "connections", "add", "bad", "--conn-uri", "postgres://u:pw@h:x/db"))
    assert "give one of --conn-uri" in error(
        invoke(env, "connections", "add", "bad", "--conn-uri", "http://h", "--conn-host", "x"))
    assert "--conn-type" in error(invoke(env, "connections", "add", "bad"))
    invoke(env, "connections", "add", "dup", "--conn-uri", "http://h")
    assert "'dup' already exists" in error(
        invoke(env, "connections", "add", "dup", "--conn-uri", "http://h"))
    assert "no connection 'nope'" in error(invoke(env, "connections", "delete", "nope"))
    message = error(invoke(env, "connections", "get", "nope"))
    assert "connection 'nope' is not defined" in message and "DASKFLOW_CONN_NOPE" in message


def test_get_finds_environment_connections(env) -> None:
    env["DASKFLOW_CONN_SALES"] = '{"conn_type": "mysql", "host": "env-host"}'
    got = json.loads(invoke(env, "connections", "get", "sales", "-o", "json").stdout)
    assert (got["conn_type"], got["host"]) == ("mysql", "env-host")


def test_export_import_round_trip_and_overwrite(env, tmp_path) -> None:
    invoke(env, "connections", "add", "sales", "--conn-uri",
           "postgres://me:pw@db:5432/public?__extra__=%7B%22n%22%3A+1%7D")
    invoke(env, "connections", "add", "api", "--conn-uri", "http://api.local",
           "--conn-description", "the API")
    out = tmp_path / "conns.json"
    assert invoke(env, "connections", "export", out).exit_code == 0
    exported = json.loads(out.read_text())
    assert exported["sales"]["password"] == "pw"  # export is for moving stores: everything
    assert json.loads(exported["sales"]["extra"]) == {"n": 1}
    other = dict(env, DASKFLOW_HOME=str(tmp_path / "other"))
    imported = invoke(other, "connections", "import", out)
    assert imported.stdout.startswith("Imported 2 connection(s)")
    again = json.loads(invoke(other, "connections", "export", "-").stdout)
    assert again == exported
    exported["api"]["host"] = "changed"
    out.write_text(json.dumps(exported))
    skipped = invoke(other, "connections", "import", out)
    assert "Skipped 2 that already exist (use --overwrite): api, sales" in skipped.stdout
    invoke(other, "connections", "import", out, "--overwrite")
    host = json.loads(invoke(other, "connections", "get", "api", "-o", "json").stdout)["host"]
    assert host == "changed"


def test_import_of_a_bad_file_names_the_file_or_the_conn_id(env, db, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert "must hold a JSON object" in error(invoke(env, "connections", "import", bad))
    bad.write_text('{"ok": {"conn_type": "http"}, "broken": {"conn_type": "x", "port": "p"}}')
    assert "connection 'broken': port must be a number" in error(
        invoke(env, "connections", "import", bad))
    # Nothing was written: the file is checked whole before the store is even opened.
    assert not db.exists()


def test_rotate_key_re_encrypts(env, db) -> None:
    invoke(env, "connections", "add", "sales", "--conn-uri", "postgres://me:pw@db/x")
    invoke(env, "variables", "set", "region", "eu")
    new = Fernet.generate_key().decode()
    env["DASKFLOW_FERNET_KEY"] = f"{new},{KEY}"
    rotated = invoke(env, "connections", "rotate-key")
    assert rotated.stdout == "Re-encrypted 1 connection(s) and 1 variable(s)\n"
    env["DASKFLOW_FERNET_KEY"] = new
    assert invoke(env, "variables", "get", "region").stdout == "eu\n"
    env["DASKFLOW_FERNET_KEY"] = KEY
    assert "cannot be decrypted" in error(invoke(env, "variables", "get", "region"))


def test_connections_test_sql_http_and_unknown_types(env, tmp_path) -> None:
    target = tmp_path / "target.db"
    create_engine(f"sqlite:///{target}").connect().execute(text("SELECT 1"))
    invoke(env, "connections", "add", "lite", "--conn-type", "sqlite", "--conn-host", target)
    ok = invoke(env, "connections", "test", "lite")
    assert ok.exit_code == 0 and "connected (sqlite)" in ok.stdout

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(204 if self.path == "/" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        invoke(env, "connections", "add", "web", "--conn-uri", f"http://127.0.0.1:{port}")
        reached = invoke(env, "connections", "test", "web", "-o", "json")
        assert json.loads(reached.stdout)["reached"] is True
    finally:
        server.shutdown()
        server.server_close()
    invoke(env, "connections", "add", "down", "--conn-uri", f"http://127.0.0.1:{port}")
    failed = invoke(env, "connections", "test", "down")
    assert failed.exit_code == 1 and "failed" in failed.stdout
    invoke(env, "connections", "add", "pg", "--conn-uri",
           "postgres://postgres@127.0.0.1:1/none")
    refused = invoke(env, "connections", "test", "pg")
    assert refused.exit_code == 1 and "cannot connect" in refused.stdout
    invoke(env, "connections", "add", "ftp", "--conn-uri", "ftp://h")
    other = invoke(env, "connections", "test", "ftp")
    assert other.exit_code == 1 and "cannot test connections of type 'ftp'" in other.stdout


def test_variables_set_get_list_delete(env) -> None:
    assert invoke(env, "variables", "set", "region", "eu", "--description", "where").stdout \
        == "Variable region set\n"
    invoke(env, "variables", "set", "settings", '{"retries": 3}', "-j")
    assert invoke(env, "variables", "get", "region").stdout == "eu\n"
    assert json.loads(invoke(env, "variables", "get", "settings", "-j").stdout) == {
        "retries": 3}
    listed = json.loads(invoke(env, "variables", "list", "-o", "json").stdout)
    assert listed == [{"key": "region", "description": "where", "is_encrypted": True},
                      {"key": "settings", "description": None, "is_encrypted": True}]
    env["DASKFLOW_VAR_REGION"] = "us"
    assert invoke(env, "variables", "get", "region").stdout == "us\n"
    assert invoke(env, "variables", "delete", "settings").stdout == "Variable settings deleted\n"
    assert invoke(env, "variables", "get", "settings", "--default", "d").stdout == "d\n"
    message = error(invoke(env, "variables", "get", "settings"))
    assert "variable 'settings' is not defined" in message
    assert "no variable 'settings'" in error(invoke(env, "variables", "delete", "settings"))
    assert "not valid JSON" in error(invoke(env, "variables", "set", "x", "{", "-j"))


def test_variables_export_import_round_trip(env, tmp_path) -> None:
    source = tmp_path / "vars.json"
    source.write_text(json.dumps({"region": "eu", "settings": {"retries": 3}, "n": 5}))
    assert invoke(env, "variables", "import", source).stdout.startswith(
        "Imported 3 variable(s)")
    assert json.loads(invoke(env, "variables", "get", "settings", "-j").stdout) == {
        "retries": 3}
    assert invoke(env, "variables", "get", "n").stdout == "5\n"
    exported = json.loads(invoke(env, "variables", "export", "-").stdout)
    assert exported == {"n": "5", "region": "eu", "settings": {"retries": 3}}


@pytest.mark.postgresql
def test_connections_test_reaches_postgresql(env, pg_url) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    uri = f"postgres://{url.username}@{url.host}:{url.port}/{url.database}"
    invoke(env, "connections", "add", "pg", "--conn-uri", uri)
    reached = invoke(env, "connections", "test", "pg")
    assert reached.exit_code == 0 and "connected (postgres)" in reached.stdout


def test_a_wrong_key_is_one_error_about_the_key_not_the_store(env) -> None:
    invoke(env, "connections", "add", "sales", "--conn-uri", "postgres://me:pw@db/x")
    env["DASKFLOW_FERNET_KEY"] = Fernet.generate_key().decode()
    message = error(invoke(env, "connections", "list"))
    assert "connection 'sales' cannot be decrypted with the Fernet key(s)" in message
    assert "DASKFLOW_DB" not in message
    env["DASKFLOW_FERNET_KEY"] = "not-a-key"
    assert "Fernet key in DASKFLOW_FERNET_KEY" in error(invoke(env, "connections", "rotate-key"))
