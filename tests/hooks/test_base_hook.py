"""BaseHook: connection id conventions and lookup through daskflow's secrets."""

from __future__ import annotations

import pytest

from daskflow.exceptions import ConnectionNotFound
from daskflow.hooks.base import BaseHook


class _EchoHook(BaseHook):
    conn_name_attr = "echo_conn_id"
    default_conn_name = "echo_default"


def test_the_conn_id_keyword_and_its_default() -> None:
    assert _EchoHook().echo_conn_id == "echo_default"
    assert _EchoHook(echo_conn_id="mine").get_conn_id() == "mine"
    with pytest.raises(TypeError, match="unexpected keyword argument.*bogus"):
        _EchoHook(bogus=1)


def test_get_connection_reads_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DASKFLOW_CONN_ECHO_ENV", "http://me:pw@echo.local:8080/base")
    conn = _EchoHook.get_connection("echo_env")
    assert (conn.conn_type, conn.host, conn.port, conn.login) == ("http", "echo.local",
                                                                  8080, "me")


def test_a_missing_connection_names_its_id(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DASKFLOW_DB", f"sqlite:///{tmp_path / 'none.db'}")
    with pytest.raises(ConnectionNotFound, match="nowhere_conn"):
        BaseHook.get_connection("nowhere_conn")
