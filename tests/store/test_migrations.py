"""Upgrading a database an older daskflow created, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from daskflow.store import Store
from daskflow.store.migrations import head_revision, upgrade
from daskflow.store.schema import metadata

DAY = datetime(2024, 1, 1, tzinfo=UTC)
NEW_INDEX = "ix_dag_run_dag_id_run_type_logical_date"


def _dag_run_indexes(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {index["name"] for index in inspect(conn).get_indexes("dag_run")}


def _rebuild_at(store: Store, revision: str) -> None:
    with store.engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE alembic_version"))
        upgrade(conn, revision)


def test_database_at_0001_upgrades_to_head_keeping_data(store: Store) -> None:
    _rebuild_at(store, "0001")
    assert store.current_revision() == "0001"
    assert NEW_INDEX not in _dag_run_indexes(store)
    # Written as the old schema had it: today's code names columns 0001 lacks.
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO dag_run (dag_id, run_id, logical_date, data_interval_start, "
            "data_interval_end, state, run_type, conf, external_trigger) VALUES "
            "('etl', 'r1', :day, :day, :day, 'queued', 'scheduled', :conf, false)"),
            {"day": DAY, "conf": '{"k": 1}'})

    store.upgrade()

    assert store.current_revision() == head_revision() == "0008"
    assert NEW_INDEX in _dag_run_indexes(store)
    assert store.get_dag_run("etl", "r1").conf == {"k": 1}
    assert store.latest_scheduled_intervals() == {}  # "etl" was never synced
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_init_upgrades_an_old_database_too(store: Store) -> None:
    _rebuild_at(store, "0001")
    store.init()
    assert store.current_revision() == "0008"
    assert NEW_INDEX in _dag_run_indexes(store)
