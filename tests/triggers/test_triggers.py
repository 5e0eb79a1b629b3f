"""Triggers and the triggerer, without a cluster: real event loops, real files, real time."""

from __future__ import annotations

import queue
import time
from datetime import datetime, timedelta, timezone

import pytest

from daskflow.execution.triggerer import Triggerer, wait_here
from daskflow.triggers import DateTimeTrigger, FileTrigger, TimeDeltaTrigger
from daskflow.triggers.base import TriggerError, trigger_from
from daskflow.triggers.serialization import UnserializableValue, decode, encode


def test_arguments_round_trip_through_json_values_even_as_msgpack_tuples():
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    value = {"at": moment, "every": timedelta(seconds=90), "ids": ("a", "b"),
             "nested": [{"on": moment.date()}], "n": 1}
    encoded = encode(value)
    assert decode(encoded) == {**value, "ids": ("a", "b")}
    as_tuples = {**encoded, "nested": tuple(encoded["nested"])}  # what msgpack gives back
    assert decode(as_tuples)["nested"] == [{"on": moment.date()}]


def test_a_value_that_cannot_be_stored_is_named():
    with pytest.raises(UnserializableValue, match=r"kwargs\['lock'\].*object"):
        encode({"lock": object()}, "kwargs")


def test_a_trigger_is_built_again_from_what_it_serialized():
    original = TimeDeltaTrigger(timedelta(seconds=30))
    classpath, kwargs = original.serialize()
    again = trigger_from(classpath, decode(encode(kwargs)))
    assert isinstance(again, DateTimeTrigger) and again.moment == original.moment


def test_a_trigger_class_that_cannot_be_imported_is_one_clear_error():
    with pytest.raises(TriggerError, match="'dags.mine.MyTrigger' cannot be imported.*DAG file"):
        trigger_from("dags.mine.MyTrigger", {})


def _eventually(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def _deferral(trigger, timeout_at=None):
    classpath, kwargs = trigger.serialize()
    return {"trigger": classpath, "trigger_kwargs": encode(kwargs), "method": "done",
            "kwargs": {}, "timeout_at": timeout_at}


def test_a_date_time_trigger_fires_at_its_moment_not_before():
    moment = datetime.now(timezone.utc) + timedelta(seconds=0.3)
    kind, payload = wait_here(_deferral(DateTimeTrigger(moment)))
    assert datetime.now(timezone.utc) >= moment
    assert kind == "event" and decode(payload) == moment


def test_a_file_trigger_fires_once_the_file_exists(tmp_path):
    fired: queue.SimpleQueue = queue.SimpleQueue()
    triggerer = Triggerer(lambda ident, kind, payload: fired.put((ident, kind, payload)))
    try:
        triggerer.start("t1", _deferral(FileTrigger(str(tmp_path / "_SUCCESS"),
                                                    poke_interval=0.05)))
        _eventually(lambda: triggerer.running() == 1)
        assert fired.empty()
        (tmp_path / "_SUCCESS").write_text("")
        assert fired.get(timeout=10) == ("t1", "event", True)
    finally:
        triggerer.close()


def test_a_stopped_trigger_never_fires_and_a_failing_one_says_why(tmp_path):
    fired: queue.SimpleQueue = queue.SimpleQueue()
    triggerer = Triggerer(lambda ident, kind, payload: fired.put((ident, kind, payload)))
    try:
        triggerer.start("stopped", _deferral(FileTrigger(str(tmp_path / "x"),
                                                         poke_interval=0.05)))
        triggerer.start("broken", _deferral(FileTrigger("nosuchprotocol://b/k")))
        ident, kind, payload = fired.get(timeout=10)
        assert (ident, kind) == ("broken", "error")
        assert "FileTrigger" in payload and "nosuchprotocol" in payload
        triggerer.stop(["stopped"])
        _eventually(lambda: triggerer.running() == 0)
        (tmp_path / "x").write_text("")
        time.sleep(0.3)  # would be long enough for the stopped trigger to notice the file
        assert fired.empty()
    finally:
        triggerer.close()


def test_waiting_here_past_the_timeout_says_so(tmp_path):
    kind, _ = wait_here(_deferral(FileTrigger(str(tmp_path / "never"), poke_interval=0.05),
                                  timeout_at=time.time() + 0.3))
    assert kind == "timeout"
