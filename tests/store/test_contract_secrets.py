"""Connections and variables in the store, on SQLite and PostgreSQL: kept in clear
without a Fernet key, encrypted at rest with one, re-encrypted by key rotation."""

from __future__ import annotations

import dask.config
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from daskflow.store import ConnectionRecord, FernetKeyError, NotFoundError, Store
from daskflow.store.schema import connection, variable

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
PG = ConnectionRecord(conn_id="sales", conn_type="postgres", description="sales DB",
                      host="db.local", schema="public", login="me", password="pa:ss",
                      port=5432, extra='{"sslmode": "require"}')


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("DASKFLOW_FERNET_KEY", raising=False)
    with dask.config.set({"daskflow.fernet-key": ""}):
        yield


def _raw(store: Store, table, key_column: str, key: str):
    with store.engine.connect() as conn:
        return conn.execute(select(table).where(table.c[key_column] == key)).one()


def test_connections_round_trip_in_clear_without_a_key(store: Store) -> None:
    assert store.set_connection(PG) is False
    assert store.get_connection("sales") == PG
    raw = _raw(store, connection, "conn_id", "sales")
    assert (raw.password, raw.is_encrypted) == ("pa:ss", False)
    assert store.get_connection("nope") is None


def test_set_connection_replaces_every_field(store: Store) -> None:
    store.set_connection(PG)
    store.set_connection(ConnectionRecord(conn_id="sales", conn_type="mysql", host="h2"))
    assert store.get_connection("sales") == ConnectionRecord(
        conn_id="sales", conn_type="mysql", host="h2")


def test_with_a_key_password_extra_and_values_are_encrypted_at_rest(store: Store) -> None:
    with dask.config.set({"daskflow.fernet-key": OLD}):
        assert store.set_connection(PG) is True
        assert store.set_variable("token", "t0k3n", "api token") is True
        assert store.get_connection("sales") == ConnectionRecord(
            **{**PG.__dict__, "is_encrypted": True})
        assert store.get_variable("token").val == "t0k3n"
    raw = _raw(store, connection, "conn_id", "sales")
    assert raw.is_encrypted and "pa:ss" not in raw.password and "sslmode" not in raw.extra
    assert raw.host == "db.local"  # only password and extra are secret
    raw_var = _raw(store, variable, "key", "token")
    assert raw_var.is_encrypted and "t0k3n" not in raw_var.val


def test_reading_encrypted_rows_without_or_with_a_wrong_key_names_the_row(store: Store,
                                                                         monkeypatch) -> None:
    with dask.config.set({"daskflow.fernet-key": OLD}):
        store.set_connection(PG)
        store.set_variable("token", "t")
    with pytest.raises(FernetKeyError, match="connection 'sales' is stored encrypted but no "
                                         "Fernet key is set"):
        store.get_connection("sales")
    monkeypatch.setenv("DASKFLOW_FERNET_KEY", NEW)  # the environment wins over the setting
    with pytest.raises(FernetKeyError, match="variable 'token' cannot be decrypted"):
        store.get_variable("token")


def test_rotate_re_encrypts_every_row_with_the_new_key(store: Store) -> None:
    store.set_variable("plain", "kept in clear")  # written before any key was set
    with dask.config.set({"daskflow.fernet-key": OLD}):
        store.set_connection(PG)
        store.set_variable("token", "t0k3n")
    with dask.config.set({"daskflow.fernet-key": f"{NEW},{OLD}"}):
        assert store.rotate_fernet_key() == (1, 2)
    with dask.config.set({"daskflow.fernet-key": NEW}):  # the old key is gone now
        assert store.get_connection("sales").password == "pa:ss"
        assert store.get_connection("sales").extra == PG.extra
        assert store.get_variable("token").val == "t0k3n"
        assert store.get_variable("plain") .val == "kept in clear"
        assert all(v.is_encrypted for v in store.list_variables())


def test_rotate_without_a_key_or_with_a_missing_old_key_changes_nothing(store: Store) -> None:
    with pytest.raises(FernetKeyError, match="no Fernet key is set"):
        store.rotate_fernet_key()
    with dask.config.set({"daskflow.fernet-key": OLD}):
        store.set_connection(PG)
        store.set_variable("token", "t")
    with dask.config.set({"daskflow.fernet-key": NEW}), \
            pytest.raises(FernetKeyError, match="connection 'sales' cannot be decrypted"):
        store.rotate_fernet_key()
    with dask.config.set({"daskflow.fernet-key": OLD}):  # all still readable with OLD
        assert store.get_connection("sales").password == "pa:ss"
        assert store.get_variable("token").val == "t"


def test_an_invalid_key_is_one_clear_error(store: Store) -> None:
    with dask.config.set({"daskflow.fernet-key": "short"}), \
            pytest.raises(FernetKeyError, match="Fernet key in DASKFLOW_FERNET_KEY / "
                                            "daskflow.fernet-key is not valid"):
        store.set_variable("x", "1")


def test_list_and_delete(store: Store) -> None:
    store.set_connection(PG)
    store.set_connection(ConnectionRecord(conn_id="api", conn_type="http"))
    store.set_variable("b", "2")
    store.set_variable("a", "1", description="first")
    assert [c.conn_id for c in store.list_connections()] == ["api", "sales"]
    assert [(v.key, v.val, v.description) for v in store.list_variables()] == [
        ("a", "1", "first"), ("b", "2", None)]
    store.delete_connection("api")
    store.delete_variable("a")
    assert [c.conn_id for c in store.list_connections()] == ["sales"]
    assert store.get_variable("a") is None
    with pytest.raises(NotFoundError, match="connection 'api'"):
        store.delete_connection("api")
    with pytest.raises(NotFoundError, match="variable 'a'"):
        store.delete_variable("a")


def test_variables_keep_text_exactly(store: Store) -> None:
    value = '{"nested": [1, 2]}\n  trailing '
    store.set_variable("v", value)
    assert store.get_variable("v").val == value
    with pytest.raises(TypeError, match="variable 'n'"):
        store.set_variable("n", 3)  # type: ignore[arg-type]
