"""The notebook progress bar: what it counts, and that it writes only what changed."""

from __future__ import annotations

import io

from daskflow.api.progress import _FINISHED, TextBar, bar_text, in_notebook
from daskflow.models.state import FINISHED_STATES


def test_the_bar_counts_every_finished_state_and_only_those():
    assert set(_FINISHED) == {state.value for state in FINISHED_STATES}
    counts = {"success": 2, "upstream_failed": 1, "up_for_retry": 1, "running": 1,
              "skipped": 1}
    assert bar_text(counts, width=6) == (
        "[####--] 4/6 tasks finished (2 success, 1 upstream_failed, 1 skipped)")
    assert bar_text({}, width=3) == "[---] 0/0 tasks finished"


def test_the_bar_rewrites_its_line_only_when_the_counts_change():
    out = io.StringIO()
    bar = TextBar(out, width=2)
    bar.update({"running": 1})
    bar.update({"running": 1})
    bar.update({"success": 1})
    bar.close()
    assert out.getvalue() == ("\r[--] 0/1 tasks finished"
                              "\r[##] 1/1 tasks finished (1 success)\n")


def test_a_test_process_is_not_a_notebook():
    assert not in_notebook()
