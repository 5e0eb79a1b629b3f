"""Connections read from URIs, JSON and fields, and written back as URIs."""

from __future__ import annotations

import pytest

from daskflow.exceptions import InvalidConnection
from daskflow.secrets import Connection


def test_uri_fields_are_read_and_percent_decoded() -> None:
    c = Connection.from_uri("google-cloud-platform://us%2Fer:p%3Aw%40rd@Host.example:99/"
                            "my%20db?a=1&b=", conn_id="gcp")
    assert c.conn_type == "google_cloud_platform"
    assert (c.login, c.password) == ("us/er", "p:w@rd")
    assert (c.host, c.port, c.schema) == ("host.example", 99, "my db")
    assert c.extra_dejson == {"a": "1", "b": ""}


def test_extra_json_query_param_keeps_types() -> None:
    c = Connection(conn_id="h", uri='http://api.local?__extra__={"retries": 3, "verify": false}')
    assert c.extra_dejson == {"retries": 3, "verify": False}
    assert c.login is None and c.password is None and c.schema is None


@pytest.mark.parametrize("fields", [
    {"conn_type": "postgres", "host": "db", "login": "u", "password": "p@ss/:word",
     "port": 5432, "schema": "public", "extra": {"sslmode": "require"}},
    {"conn_type": "http", "host": "api.local", "extra": {"timeout": 5, "tags": ["a"]}},
    {"conn_type": "aws", "login": "key id", "password": ""},
    {"conn_type": "sqlite", "host": "/tmp/x.db"},
])
def test_get_uri_and_as_json_read_back_to_the_same_fields(fields) -> None:
    original = Connection(conn_id="c", **fields)
    assert Connection.from_uri(original.get_uri(), conn_id="c") == original
    assert Connection.from_json(original.as_json(), conn_id="c") == original


def test_a_host_with_a_protocol_survives_the_uri() -> None:
    c = Connection(conn_id="h", conn_type="http", host="https://api.example.com/v1")
    assert Connection.from_uri(c.get_uri(), conn_id="h").host == "https://api.example.com/v1"


def test_from_json_accepts_fields_extra_as_object_or_text_and_uri() -> None:
    a = Connection.from_json('{"conn_type": "mysql", "host": "h", "port": "3306", '
                             '"extra": {"charset": "utf8"}}', conn_id="a")
    assert (a.conn_type, a.port, a.extra_dejson) == ("mysql", 3306, {"charset": "utf8"})
    b = Connection.from_json({"conn_type": "mysql", "extra": '{"x": 1}'}, conn_id="b")
    assert b.extra_dejson == {"x": 1}
    c = Connection.from_json({"uri": "redis://h:6379"}, conn_id="c")
    assert (c.conn_type, c.host, c.port) == ("redis", "h", 6379)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Connection.from_uri("localhost:5432", "bad"), "'bad': URI 'localhost:5432' has "
                                                            "no scheme"),
    (lambda: Connection.from_uri("postgres://u:secret@h:notaport/db", "bad"),
     "'bad': URI 'postgres://u:***@h:notaport/db' is not valid"),
    (lambda: Connection.from_uri("http://h?__extra__={oops", "bad"),
     "'bad': __extra__ in the URI is not valid JSON"),
    (lambda: Connection.from_uri("http://h?__extra__=[1]", "bad"), "must be a JSON object"),
    (lambda: Connection.from_json("{nope", "bad"), "'bad': JSON is not valid"),
    (lambda: Connection.from_json({"host": "h"}, "bad"), "'bad': JSON needs a 'conn_type'"),
    (lambda: Connection.from_json({"conn_type": "x", "hots": "h"}, "bad"),
     "'bad': unknown field(s) hots"),
    (lambda: Connection(conn_id="bad", conn_type="x", port=70000), "port 70000 is out of range"),
    (lambda: Connection(conn_id="bad", conn_type="x", extra="[1, 2]"),
     "extra must be a JSON object"),
    (lambda: Connection(conn_id="bad", conn_type="x", uri="x://h"), "not both"),
])
def test_bad_input_names_the_conn_id_and_the_fault(make, message) -> None:
    with pytest.raises(InvalidConnection) as info:
        make()
    assert message in str(info.value)
    assert "secret" not in str(info.value)


def test_secret_values_are_the_password_and_text_extras() -> None:
    c = Connection(conn_id="c", conn_type="http", password="pw",
                   extra={"token": "t0k", "timeout": 5})
    assert c.secret_values() == ["pw", "t0k"]
    assert Connection(conn_id="d", conn_type="http").secret_values() == []
