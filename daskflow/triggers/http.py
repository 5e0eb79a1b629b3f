"""``HttpSensorTrigger``: the deferred wait of ``HttpSensor``.

It sends the sensor's request every ``poke_interval`` seconds, in a thread,
with the connection looked up in the run's store, and fires ``True`` on the
first answer that is not an error. An answer whose status is in the
allowlist (404 by default) means "not yet"; any other error fails the
trigger, and so the task (its retries apply). Airflow's trigger instead
keeps asking, without pause, after such an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from daskflow.triggers.base import BaseTrigger, TriggerEvent


class HttpSensorTrigger(BaseTrigger):
    """Fires once ``endpoint`` of ``http_conn_id`` answers without an error."""

    def __init__(self, endpoint: str, http_conn_id: str = "http_default", method: str = "GET",
                 data: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
                 extra_options: dict[str, Any] | None = None, poke_interval: float = 5.0,
                 response_error_codes_allowlist: list[str] | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.http_conn_id = http_conn_id
        self.method = method
        self.data = data or {}
        self.headers = headers or {}
        self.extra_options = extra_options or {}
        self.poke_interval = float(poke_interval)
        self.response_error_codes_allowlist = [
            str(c) for c in (response_error_codes_allowlist or ["404"])]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("daskflow.triggers.http.HttpSensorTrigger", {
            "endpoint": self.endpoint, "http_conn_id": self.http_conn_id,
            "method": self.method, "data": self.data, "headers": self.headers,
            "extra_options": self.extra_options, "poke_interval": self.poke_interval,
            "response_error_codes_allowlist": self.response_error_codes_allowlist})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while not await asyncio.to_thread(self._answered):
            await asyncio.sleep(self.poke_interval)
        yield TriggerEvent(True)

    def _answered(self) -> bool:
        from daskflow.hooks.http import HttpHook, HttpRequestError

        hook = HttpHook(self.method, http_conn_id=self.http_conn_id)
        try:
            hook.run(self.endpoint, data=self.data, headers=self.headers,
                     extra_options=self.extra_options)
        except HttpRequestError as exc:
            if str(exc.status_code) in self.response_error_codes_allowlist:
                return False
            raise
        return True
