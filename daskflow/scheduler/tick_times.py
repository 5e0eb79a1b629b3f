"""How long the loop's ticks take, sent to the Dask scheduler for its metrics endpoint.

Only the loop can time its ticks, and the Prometheus endpoint lives in the
Dask scheduler's process, which may be on another host. So the loop keeps
the durations of its recent ticks and, every ``PUBLISH_INTERVAL`` seconds,
sends them as one event on Dask's event stream (``Client.log_event``, topic
``TOPIC``); daskflow's metrics plugin in the scheduler observes each into a
histogram (``dashboard/metrics.py``). One small message every few seconds,
whatever the tick rate. A failed send is logged and its durations dropped:
the metrics never hold the loop up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger("daskflow.scheduler")

TOPIC = "daskflow-loop-ticks"
PUBLISH_INTERVAL = 5.0
#: Durations kept between two sends at most (a stalled send must not grow memory).
MAX_KEPT = 1000


class TickTimes:
    """Collects tick durations and sends them in batches over ``client``."""

    def __init__(self, client: Any, loop_id: str, interval: float = PUBLISH_INTERVAL) -> None:
        self.client = client
        self.loop_id = loop_id
        self.interval = interval
        self.pending: list[float] = []
        self._last_sent = time.monotonic()
        self._warned = False

    def record(self, seconds: float, mono: float | None = None) -> None:
        """Keep one tick's duration; send the batch when ``interval`` has passed."""
        if len(self.pending) < MAX_KEPT:
            self.pending.append(seconds)
        mono = time.monotonic() if mono is None else mono
        if mono - self._last_sent >= self.interval:
            self._last_sent = mono
            self.publish()

    def publish(self) -> None:
        """Send the kept durations now (nothing to send: nothing sent)."""
        if not self.pending or self.client is None:
            return
        batch, self.pending = self.pending, []
        try:
            self.client.log_event(TOPIC, {"loop_id": self.loop_id, "ticks": batch})
        except Exception as exc:  # the cluster is away: the loop carries on without metrics
            if not self._warned:
                self._warned = True
                logger.warning("could not send tick times to the Dask scheduler (%s); "
                               "loop metrics are missing until it answers", exc)
