"""Keeping a page up to date: store reads in a thread, Bokeh changes on the page's loop.

A page runs in the Dask scheduler's process, on the scheduler's event loop:
a store query made there would stall the scheduler for as long as it
takes. So each component splits its refresh in two: ``read()`` queries the
store in a small thread pool of the dashboard's own, ``show(data)`` puts
the result into the component's Bokeh models on the page's loop, and only
when it differs from what is shown, so an idle page sends the browser
nothing. Every page refreshes on a server-side periodic callback
(``daskflow.dashboard.refresh-interval``), which is what makes a page follow a
run while it is active.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from daskflow import config

logger = logging.getLogger(__name__)

_READERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="daskflow-dashboard")


class Component(Protocol):
    """A view of a page: what it reads from the store and how it shows it."""

    def read(self) -> Any:
        """Query the store (runs in a thread; must not touch Bokeh models)."""

    def show(self, data: Any) -> None:
        """Put ``data`` into the component's Bokeh models (runs on the page's loop)."""


def refresh_interval_ms() -> int:
    """Milliseconds between two refreshes of an open page."""
    return max(100, int(float(config.get("dashboard.refresh-interval", 2)) * 1000))


async def refresh(components: list[Component], report: Any = None) -> None:
    """Read every component's data in the dashboard's threads, then show it.

    A store that fails to answer is reported on the page (``report(text)``)
    and logged; the page keeps what it showed and tries again next time.
    """
    loop = asyncio.get_running_loop()
    for component in components:
        try:
            data = await loop.run_in_executor(_READERS, component.read)
        except Exception as exc:  # a page must outlive a store outage
            logger.warning("daskflow dashboard: reading %s failed: %s",
                           type(component).__name__, exc)
            if report is not None:
                report(f"Cannot read the metadata store: {exc}")
            return
        component.show(data)
    if report is not None:
        report("")


def keep_fresh(doc: Any, components: list[Component], report: Any = None) -> None:
    """Fill ``components`` as soon as the page is open, then on every refresh interval.

    Refreshes never overlap: a slow store makes the page refresh less often,
    not pile up reads.
    """
    busy = False

    async def once() -> None:
        nonlocal busy
        if busy:
            return
        busy = True
        try:
            await refresh(components, report)
        finally:
            busy = False

    doc.add_next_tick_callback(once)
    doc.add_periodic_callback(once, refresh_interval_ms())


def read_then_show(doc: Any, read: Any, show: Any) -> None:
    """Once, soon: ``read()`` in the dashboard's threads, then ``show(result)`` on the page."""

    async def once() -> None:
        try:
            data = await asyncio.get_running_loop().run_in_executor(_READERS, read)
        except Exception as exc:  # shown on the page rather than lost in a log
            logger.warning("daskflow dashboard: a read failed: %s", exc)
            show(exc)
            return
        show(data)

    doc.add_next_tick_callback(once)
