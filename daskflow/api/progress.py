"""The progress bar ``handle.wait()`` shows in a Jupyter notebook.

A run's tasks are known only as they are planned (a mapped task's instances
appear when its upstream reports a length), so the bar counts finished
task instances out of those known so far. In a notebook the line is
rewritten in place with a carriage return, which Jupyter renders as an
updating line; in a terminal ``wait()`` shows nothing unless asked
(``wait(progress=True)``), as a script's output should stay its own.

>>> import io
>>> out = io.StringIO()
>>> bar = TextBar(out, width=10)
>>> bar.update({"success": 3, "running": 1, "queued": 1})
>>> bar.close()
>>> out.getvalue()
'\\r[######----] 3/5 tasks finished (3 success)\\n'
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO

#: The finished states, in the order the bar names them.
_FINISHED = ("success", "failed", "upstream_failed", "skipped", "removed")


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (not a terminal IPython or a script).

    A kernel's IPython shell is ``ZMQInteractiveShell``; asking IPython is the
    only reliable sign, and it costs nothing when IPython was never imported.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def bar_text(counts: Mapping[str, int], width: int = 30) -> str:
    """``[#####-----] 3/6 tasks finished (2 success, 1 failed)``.

    >>> bar_text({"success": 1, "failed": 1, "queued": 2}, width=4)
    '[##--] 2/4 tasks finished (1 success, 1 failed)'
    """
    total = sum(counts.values())
    done = sum(n for state, n in counts.items() if state in _FINISHED)
    filled = width * done // total if total else 0
    ended = ", ".join(f"{counts[state]} {state}" for state in _FINISHED if counts.get(state))
    return (f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} tasks finished"
            + (f" ({ended})" if ended else ""))


class TextBar:
    """A progress line rewritten in place; ``close()`` ends it with a newline."""

    def __init__(self, stream: IO[str] | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.width = width
        self._last = ""

    def update(self, counts: Mapping[str, int]) -> None:
        text = bar_text(counts, self.width)
        if text != self._last:
            self._last = text
            self.stream.write("\r" + text)
            self.stream.flush()

    def close(self) -> None:
        if self._last:
            self.stream.write("\n")
            self.stream.flush()
