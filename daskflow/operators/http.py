"""``HttpOperator``: one HTTP call as a task (Airflow's ``HttpOperator``).

The request goes through :class:`~daskflow.hooks.http.HttpHook` with the
connection ``http_conn_id``. The task fails on a 4xx/5xx answer or an
unreachable host (the error names the conn_id), and when ``response_check``
returns false. Its return value (the XCom) is ``response_filter(response)``
when given, else the response's text. Both callables get the response first,
then any context entries their signature names (``ti``, ``ds``, ``**context``).

With ``pagination_function`` the operator asks for page after page, as
Airflow does: the function gets each response and returns the changes for
the next request (``http_pagination.py``), or ``None`` to stop. Then
``response_check`` and ``response_filter`` get the list of every response,
and without a filter the return value is the list of their texts.

With ``deferrable=True`` the (first) request is sent from the scheduler's
process (:class:`~daskflow.triggers.http.HttpTrigger`) while the task holds
no worker thread; the task resumes on a worker with the answer, where
``response_check``, ``response_filter`` and further pages are handled as
without deferral. ``auth_type`` must then be a class importable by its path
(``requests.auth.HTTPBasicAuth``), and ``data``, ``headers`` and
``request_kwargs`` plain JSON values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daskflow.exceptions import DaskflowError
from daskflow.hooks.http import HttpHook, HttpRequestError
from daskflow.models.baseoperator import BaseOperator
from daskflow.operators.http_pagination import next_request
from daskflow.operators.python import determine_kwargs
from daskflow.triggers.http import HttpTrigger, response_from_payload


class HttpOperator(BaseOperator):
    """Send ``method`` to ``endpoint`` of connection ``http_conn_id``."""

    template_fields = ("endpoint", "data", "headers")
    ui_color = "#f4a460"

    def __init__(self, *, endpoint: str | None = None, method: str = "POST", data: Any = None,
                 headers: dict[str, str] | None = None,
                 response_check: Callable[..., bool] | None = None,
                 response_filter: Callable[..., Any] | None = None,
                 extra_options: dict[str, Any] | None = None,
                 http_conn_id: str = "http_default", log_response: bool = False,
                 auth_type: Callable[..., Any] | None = None,
                 retry_args: dict[str, Any] | None = None,
                 pagination_function: Callable[[Any], dict[str, Any] | None] | None = None,
                 request_kwargs: dict[str, Any] | None = None, deferrable: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.method = method.upper()
        self.data = data
        self.headers = headers or {}
        self.response_check = response_check
        self.response_filter = response_filter
        self.extra_options = extra_options or {}
        self.http_conn_id = http_conn_id
        self.log_response = log_response
        self.auth_type = auth_type
        self.retry_args = retry_args
        if pagination_function is not None and not callable(pagination_function):
            raise TypeError(f"pagination_function must be callable, got {pagination_function!r}")
        self.pagination_function = pagination_function
        #: Passed to ``requests`` with every request (``json=``, ``files=``, ...).
        self.request_kwargs = dict(request_kwargs or {})
        self.deferrable = bool(deferrable)
        if self.deferrable:
            self._auth_path()  # an auth_type a trigger cannot name fails here, at parse time

    @property
    def hook(self) -> HttpHook:
        return HttpHook(self.method, http_conn_id=self.http_conn_id, auth_type=self.auth_type)

    def execute(self, context: dict[str, Any]) -> Any:
        print(f"Calling HTTP method {self.method} on endpoint {self.endpoint!r} of "
              f"connection {self.http_conn_id!r}")
        if self.deferrable:
            self.defer(trigger=HttpTrigger(
                self.http_conn_id, self.method, self.endpoint, self.data, self.headers,
                self.extra_options, self.request_kwargs, self._auth_path()),
                method_name="execute_complete")
        return self.process_response(context, self._request(self.hook, self._first()))

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> Any:
        """Where a deferred request resumes: its answer came."""
        event = event or {}
        if event.get("status") != "success":
            raise HttpRequestError(f"HTTP {self.method} {self.endpoint!r} of connection "
                                   f"{self.http_conn_id!r} failed: {event.get('message')}")
        response = response_from_payload(event["response"])
        print(f"Answer: HTTP {response.status_code} {response.reason}")
        return self.process_response(context, response)

    def process_response(self, context: dict[str, Any], response: Any) -> Any:
        """Further pages, the check, the log and the filter, for the first answer."""
        hook = self.hook
        first = self._first()
        if self.pagination_function is not None:
            response = self.paginate(hook, first, response)
        texts = ([r.text for r in response] if isinstance(response, list) else response.text)
        if self.log_response:
            print(texts)
        if self.response_check is not None:
            if not call_with_context(self.response_check, response, context):
                raise DaskflowError(f"response check of {self.endpoint!r} (connection "
                                    f"{self.http_conn_id!r}) returned False")
        if self.response_filter is not None:
            return call_with_context(self.response_filter, response, context)
        return texts

    def _first(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "data": self.data, "headers": self.headers,
                "extra_options": self.extra_options}

    def _auth_path(self) -> str | None:
        if self.auth_type is None:
            return None
        path = f"{self.auth_type.__module__}.{self.auth_type.__qualname__}"
        if "<" in path or self.auth_type.__module__ == "__main__":
            raise TypeError(f"deferrable=True needs an auth_type importable by its path "
                            f"(its trigger runs in the scheduler), got {self.auth_type!r}")
        return path

    def _request(self, hook: HttpHook, arguments: dict[str, Any]) -> Any:
        call = (arguments["endpoint"], arguments["data"], arguments["headers"],
                arguments["extra_options"])
        if self.retry_args:
            response = hook.run_with_advanced_retry(self.retry_args, *call,
                                                    **self.request_kwargs)
        else:
            response = hook.run(*call, **self.request_kwargs)
        print(f"Answer: HTTP {response.status_code} {response.reason}")
        return response

    def paginate(self, hook: HttpHook, first: dict[str, Any], response: Any) -> list[Any]:
        """Every response, from ``response`` on, until ``pagination_function`` says stop."""
        responses = [response]
        while page := self.pagination_function(response):
            if not isinstance(page, dict):
                raise TypeError(f"task {self.task_id!r}: pagination_function returned "
                                f"{page!r}; it must return a dict or None")
            try:
                arguments = next_request(first, page)
            except ValueError as exc:
                raise ValueError(f"task {self.task_id!r}: {exc}") from None
            print(f"Next page: {arguments['endpoint']!r}")
            response = self._request(hook, arguments)
            responses.append(response)
        return responses


def call_with_context(fn: Callable[..., Any], response: Any, context: dict[str, Any]) -> Any:
    """``fn(response, <context entries fn names>)``."""
    return fn(response, **determine_kwargs(fn, {}, context, op_args=(response,)))
