"""Riding out a store that goes away for a while.

A scheduler loop must survive its database being briefly unavailable: a
SQLite file locked by another process, a PostgreSQL connection terminated
by an administrator, a server restart or a failover. Every ``Store`` method
is one transaction, so when it fails with :class:`StoreUnavailable` the whole
method is simply run again, with exponential backoff, until it succeeds or
``retry_for`` seconds have passed; then the last error is raised. What the
caller holds in memory (the loop's batch of task states) is kept meanwhile:
it leaves memory only once a call that wrote it returned.

One warning is logged when an outage starts and one when it ends, not one
per attempt.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from daskflow.store.errors import StoreUnavailable

logger = logging.getLogger("daskflow.store")
F = TypeVar("F", bound=Callable[..., Any])

FIRST_DELAY = 0.1
MAX_DELAY = 5.0


class Retrying:
    """Runs store calls again while the store is unavailable, for up to ``retry_for`` s."""

    def __init__(self, retry_for: float, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.retry_for = retry_for
        self.what = what
        self.sleep = sleep
        self._lock = threading.Lock()
        self._outage_since: float | None = None

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.retry_for
        delay = FIRST_DELAY
        while True:
            try:
                result = fn(*args, **kwargs)
            except StoreUnavailable as exc:
                self._outage(exc)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                self.sleep(min(delay * random.uniform(0.5, 1.5), left))
                delay = min(delay * 2, MAX_DELAY)
                continue
            self._recovered()
            return result

    def _outage(self, exc: StoreUnavailable) -> None:
        with self._lock:
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()
        logger.warning("%s is unavailable (%s); retrying for up to %gs "
                       "(daskflow.store-retry-for)", self.what, exc, self.retry_for)

    def _recovered(self) -> None:
        if self._outage_since is None:
            return
        with self._lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            logger.warning("%s is reachable again after %.1fs", self.what,
                           time.monotonic() - since)


def retried(method: F) -> F:
    """Make a ``Store`` method run again while the store is unavailable (``Store.retrying``)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self.retrying.call(method, self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
