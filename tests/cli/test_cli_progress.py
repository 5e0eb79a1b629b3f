"""The progress line of ``dags test``: rewritten in place on a terminal, sparse lines elsewhere."""

from __future__ import annotations

import io

from daskflow.cli.progress import ProgressLine, describe


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_states_are_listed_finished_first_and_zero_counts_dropped():
    counts = {"queued": 2, "running": 1, "success": 3, "failed": 0, "skipped": 1}
    assert describe(counts) == "tasks: 3 success, 1 skipped, 1 running, 2 queued"
    assert describe({}) == "tasks: none yet"


def test_without_a_terminal_lines_are_throttled_and_the_final_counts_always_shown():
    out, clock = io.StringIO(), Clock()
    line = ProgressLine(out, tty=False, every=5.0, clock=clock)
    line({"queued": 2})
    clock.now = 1.0
    line({"running": 1, "queued": 1})
    clock.now = 6.0
    line({"success": 1, "running": 1})
    clock.now = 7.0
    line({"success": 1, "running": 1})
    line({"success": 2})
    line.close()
    assert out.getvalue().splitlines() == [
        "tasks: 2 queued", "tasks: 1 success, 1 running", "tasks: 2 success"]
    assert "\r" not in out.getvalue()


def test_close_does_not_repeat_a_line_already_shown():
    out = io.StringIO()
    line = ProgressLine(out, tty=False, clock=Clock())
    line({"success": 2})
    line.close()
    assert out.getvalue() == "tasks: 2 success\n"


def test_on_a_terminal_the_line_is_rewritten_in_place():
    out = io.StringIO()
    line = ProgressLine(out, tty=True, clock=Clock())
    line({"running": 1, "queued": 1})
    line({"running": 1, "queued": 1})
    line({"success": 2})
    line.close()
    first, second = "tasks: 1 running, 1 queued", "tasks: 2 success"
    assert out.getvalue() == f"\r{first}\r{second.ljust(len(first))}\n"


def test_a_stream_that_is_not_a_terminal_is_detected():
    assert ProgressLine(io.StringIO()).tty is False
