"""Headless Chromium for the dashboard tests, driven by Playwright.

Uses Debian's ``chromium`` (``/usr/bin/chromium``, or ``DASKFLOW_CHROMIUM``),
never a browser Playwright downloads. A missing browser or Playwright skips
a test on a developer's machine and fails it under ``CI=true``, where
``scripts/test.sh`` installs both.

Bokeh pages arrive empty and are drawn after their websocket opens, so
:func:`wait_for_text` waits for what the test expects to see, and
:func:`bokeh_data` reads a data source as the browser holds it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

INSTALL = "apt-get install -y chromium && pip install playwright (bash scripts/test.sh does both)"


def _unavailable(reason: str) -> None:
    message = f"{reason}; install it: {INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str | None:
    return os.environ.get("DASKFLOW_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium browser for the duration of the block."""
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium browser found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def open_page(chromium: Any, url: str, expect: str, timeout_s: float = 90) -> Any:
    """A new tab at ``url`` once ``expect`` is visible on it (i.e. Bokeh has drawn it)."""
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(timeout_s * 1000)  # a loaded 2-core machine is slow, not broken
    page.goto(url)
    wait_for_text(page, expect, timeout_s)
    return page


def wait_for_text(page: Any, text: str, timeout_s: float = 90) -> None:
    """Wait until ``text`` is shown anywhere on the page, inside Bokeh's shadow DOMs too."""
    page.get_by_text(text).first.wait_for(state="visible", timeout=timeout_s * 1000)


def bokeh_data(page: Any, name: str) -> dict[str, list[Any]]:
    """The columns of the ColumnDataSource called ``name`` in the page's Bokeh document."""
    return page.evaluate("""(name) => {
        const doc = Bokeh.documents[0];
        const source = doc.get_model_by_name(name);
        const out = {};
        const data = source.data;
        const entries = data instanceof Map ? data.entries() : Object.entries(data);
        for (const [key, value] of entries) { out[key] = Array.from(value); }
        return out;
    }""", name)
