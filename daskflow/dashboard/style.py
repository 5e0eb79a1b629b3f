"""What every daskflow page shares: the colour of each state and reading the page's URL.

The colours are the ones Airflow users know from its grid, so a state reads
the same at a glance in both.
"""

from __future__ import annotations

from typing import Any

#: Fill colour per task-instance or run state; ``None`` (no state yet) is the last entry.
STATE_COLORS: dict[str | None, str] = {
    "success": "#008000",
    "failed": "#ff0000",
    "running": "#32cd32",
    "queued": "#808080",
    "scheduled": "#d2b48c",
    "up_for_retry": "#ffd700",
    "up_for_reschedule": "#40e0d0",
    "deferred": "#9370db",
    "skipped": "#ff69b4",
    "upstream_failed": "#ffa500",
    "removed": "#d3d3d3",
    None: "#f0f0f0",
}


def state_color(state: str | None) -> str:
    """The colour of ``state``; an unknown state is drawn as having none."""
    return STATE_COLORS.get(state, STATE_COLORS[None])


def query_arg(doc: Any, name: str, default: str | None = None) -> str | None:
    """The first value of ``?name=`` in the URL the Bokeh document was opened with."""
    context = getattr(doc, "session_context", None)
    request = getattr(context, "request", None)
    values = (getattr(request, "arguments", None) or {}).get(name)
    if not values:
        return default
    value = values[0]
    return value.decode() if isinstance(value, bytes) else str(value)
