"""``HttpSensorTrigger`` and ``HttpTrigger``: HTTP calls made from the scheduler's process.

``HttpTrigger`` is the request of ``HttpOperator(deferrable=True)``: it is
sent once, in a thread, and its answer (status, headers, body) is the
event's payload, from which the resumed task rebuilds a
``requests.Response``. ``HttpSensorTrigger`` is the wait of a deferrable
``HttpSensor``: it sends the sensor's request every ``poke_interval`` seconds, in a thread,
with the connection looked up in the run's store, and fires ``True`` on the
first answer that is not an error. An answer whose status is in the
allowlist (404 by default) means "not yet"; any other error fails the
trigger, and so the task (its retries apply). Airflow's trigger instead
keeps asking, without pause, after such an error.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
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


class HttpTrigger(BaseTrigger):
    """Sends one request; fires ``{"status": "success", "response": ...}`` or
    ``{"status": "error", "message": ...}``."""

    def __init__(self, http_conn_id: str = "http_default", method: str = "POST",
                 endpoint: str | None = None, data: Any = None,
                 headers: dict[str, Any] | None = None,
                 extra_options: dict[str, Any] | None = None,
                 request_kwargs: dict[str, Any] | None = None,
                 auth_type: str | None = None) -> None:
        super().__init__()
        self.http_conn_id = http_conn_id
        self.method = method
        self.endpoint = endpoint
        self.data = data
        self.headers = headers or {}
        self.extra_options = extra_options or {}
        self.request_kwargs = request_kwargs or {}
        #: The class path of a ``requests`` auth class (``requests.auth.HTTPBasicAuth``).
        self.auth_type = auth_type

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("daskflow.triggers.http.HttpTrigger", {
            "http_conn_id": self.http_conn_id, "method": self.method,
            "endpoint": self.endpoint, "data": self.data, "headers": self.headers,
            "extra_options": self.extra_options, "request_kwargs": self.request_kwargs,
            "auth_type": self.auth_type})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await asyncio.to_thread(self._call))

    def _call(self) -> dict[str, Any]:
        from daskflow.hooks.http import HttpHook, HttpRequestError

        auth = None
        if self.auth_type:
            module, _, name = self.auth_type.rpartition(".")
            auth = getattr(importlib.import_module(module), name)
        hook = HttpHook(self.method, http_conn_id=self.http_conn_id, auth_type=auth)
        try:
            response = hook.run(self.endpoint, data=self.data, headers=self.headers,
                                extra_options=self.extra_options, **self.request_kwargs)
        except HttpRequestError as exc:
            return {"status": "error", "message": str(exc)}
        return {"status": "success", "response": response_to_payload(response)}


def response_to_payload(response: Any) -> dict[str, Any]:
    """What of a ``requests.Response`` crosses to the resumed task, as plain values."""
    return {"status_code": response.status_code, "reason": response.reason,
            "headers": dict(response.headers), "url": response.url,
            "encoding": response.encoding,
            "content": base64.b64encode(response.content).decode("ascii")}


def response_from_payload(payload: dict[str, Any]) -> Any:
    """The ``requests.Response`` :func:`response_to_payload` wrote down."""
    import requests
    from requests.structures import CaseInsensitiveDict

    response = requests.Response()
    response.status_code = payload["status_code"]
    response.reason = payload["reason"]
    response.headers = CaseInsensitiveDict(payload["headers"])
    response.url = payload["url"]
    response.encoding = payload["encoding"]
    response._content = base64.b64decode(payload["content"])
    return response
