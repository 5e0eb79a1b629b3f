"""``HttpSensor``: wait until an HTTP endpoint answers (Airflow's ``HttpSensor``).

Each poke sends ``method`` (GET) to ``endpoint`` of connection
``http_conn_id`` with ``request_params`` as the query. An answer whose status
is in ``response_error_codes_allowlist`` (``["404"]``, as in Airflow) means
"not yet"; any other 4xx/5xx or an unreachable host fails the task (retries
as configured). A 2xx/3xx answer is done, unless ``response_check`` says
it is not: it gets the response and the context entries its signature names.

With ``deferrable=True`` the requests are sent from the scheduler's process
(:class:`~daskflow.triggers.http.HttpSensorTrigger`) while the task holds no
worker thread. As in Airflow, a sensor with a ``response_check`` does not
defer (the check is your code, which never runs in the scheduler's process):
it pokes from its worker instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daskflow.hooks.http import HttpHook, HttpRequestError
from daskflow.operators.http import call_with_context
from daskflow.sensors.base import BaseSensorOperator


class HttpSensor(BaseSensorOperator):
    """Poke ``endpoint`` of connection ``http_conn_id`` until it answers as wanted."""

    supports_deferral = True

    template_fields = ("endpoint", "request_params", "headers")

    def __init__(self, *, endpoint: str, http_conn_id: str = "http_default", method: str = "GET",
                 request_params: dict[str, Any] | None = None,
                 headers: dict[str, Any] | None = None,
                 response_error_codes_allowlist: list[str] | None = None,
                 response_check: Callable[..., bool] | None = None,
                 extra_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.http_conn_id = http_conn_id
        self.method = method
        self.request_params = request_params or {}
        self.headers = headers or {}
        self.response_error_codes_allowlist = [
            str(code) for code in (response_error_codes_allowlist or ["404"])]
        self.response_check = response_check
        self.extra_options = extra_options or {}

    def poke(self, context: dict[str, Any]) -> bool:
        hook = HttpHook(self.method, http_conn_id=self.http_conn_id)
        print(f"Poking: {self.method} {self.endpoint!r} of connection {self.http_conn_id!r}")
        try:
            response = hook.run(self.endpoint, data=self.request_params, headers=self.headers,
                                extra_options=self.extra_options)
        except HttpRequestError as exc:
            if str(exc.status_code) in self.response_error_codes_allowlist:
                print(f"Not yet: HTTP {exc.status_code}")
                return False
            raise
        if self.response_check is not None:
            return bool(call_with_context(self.response_check, response, context))
        return True

    def execute(self, context: dict[str, Any]) -> Any:
        if not self.deferrable or self.response_check is not None:
            return super().execute(context)
        if self.poke(context):
            return None
        from daskflow.triggers.http import HttpSensorTrigger

        self.defer(trigger=HttpSensorTrigger(
            self.endpoint, self.http_conn_id, self.method, self.request_params, self.headers,
            self.extra_options, self.poke_interval, self.response_error_codes_allowlist),
            method_name="execute_complete", timeout=self.timeout)
