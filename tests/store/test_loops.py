"""The running loops and their dashboards, on SQLite and PostgreSQL (``store`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daskflow.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_loops_are_listed_newest_first_and_forgotten_when_they_stop(store: Store) -> None:
    assert store.list_loops() == []
    store.register_loop("old", "host-a", "http://host-a:8787", T0)
    store.register_loop("new", "host-b", None, T0 + timedelta(minutes=1))

    loops = store.list_loops()
    assert [(x.loop_id, x.hostname, x.dashboard_url) for x in loops] == [
        ("new", "host-b", None), ("old", "host-a", "http://host-a:8787")]
    assert loops[0].started_at == T0 + timedelta(minutes=1)

    store.unregister_loop("new")
    assert [x.loop_id for x in store.list_loops()] == ["old"]
    store.unregister_loop("new")  # already gone: nothing to do


def test_a_loop_started_again_under_its_id_replaces_its_row(store: Store) -> None:
    store.register_loop("loop", "host-a", "http://host-a:8787", T0)
    store.register_loop("loop", "host-a", "http://host-a:40123", T0 + timedelta(hours=1))
    [loop] = store.list_loops()
    assert (loop.dashboard_url, loop.started_at) == ("http://host-a:40123",
                                                     T0 + timedelta(hours=1))
