"""Keeping a page's component up to date while what it shows can still change.

Each daskflow page draws one run (or one DAG's runs) from the store. A Bokeh
periodic callback calls the component's ``update()``, whose ``read()`` reads
the store only while the component is ``live`` - its run is queued or
running, or a newer run appeared that it follows - and whose ``show()``
sends the browser only what changed: a page left open on a finished run
costs one cheap query per interval, not a redraw.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

#: Milliseconds between two checks of an open page.
REFRESH_MS = 1000


class LiveComponent(Protocol):
    def update(self) -> None: ...


def keep_updated(doc: Any, component: LiveComponent, interval_ms: int = REFRESH_MS) -> None:
    """Call ``component.update()`` every ``interval_ms``.

    The callback holds the component weakly (the document keeps it alive), so a
    closed page's component is not kept in memory by its own callback.
    """
    ref = weakref.ref(component)

    def refresh() -> None:
        current = ref()
        if current is not None:
            current.update()

    doc.add_periodic_callback(refresh, interval_ms)
    kept = getattr(doc, "daskflow_components", None)
    if kept is None:
        kept = doc.daskflow_components = []
    kept.append(component)
