"""HttpOperator(pagination_function=...) against a real HTTP server on 127.0.0.1: the
function sees each response and returns the next request's changes or None; the checks,
the filter and the return value get every page."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from daskflow import DAG
from daskflow.exceptions import DagDefinitionError
from daskflow.operators.http import HttpOperator
from daskflow.operators.http_pagination import next_request
from daskflow.operators.python import PythonOperator
from daskflow.store import ConnectionRecord, Store

PAGES = ['{"items": [1, 2], "next": "c2"}', '{"items": [3, 4], "next": "c3"}',
         '{"items": [5], "next": null}']


def _by_cursor(response):
    cursor = response.json()["next"]
    return {"data": {"cursor": cursor}, "headers": {"X-Page": cursor}} if cursor else None


def _query(request) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}


def test_cursor_pages_are_merged_over_the_first_request(http_api, monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_ITEMS_API", json.dumps(
        {"conn_type": "http", "host": http_api.base_url}))
    http_api.answer("/items", *[(200, page) for page in PAGES])
    operator = HttpOperator(task_id="items", http_conn_id="items_api", method="GET",
                            endpoint="items", data={"limit": 2}, headers={"X-App": "etl"},
                            pagination_function=_by_cursor)
    assert operator.execute({}) == PAGES  # no filter: every page's text
    calls = http_api.calls("/items")
    assert [_query(c) for c in calls] == [{"limit": "2"}, {"limit": "2", "cursor": "c2"},
                                          {"limit": "2", "cursor": "c3"}]
    assert [c.headers.get("X-Page") for c in calls] == [None, "c2", "c3"]
    assert all(c.headers["X-App"] == "etl" for c in calls)


def test_check_and_filter_get_the_list_of_responses(http_api, monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_ITEMS_API", json.dumps(
        {"conn_type": "http", "host": http_api.base_url}))
    http_api.answer("/items", *[(200, page) for page in PAGES])
    seen = []

    def check(responses):
        seen.append(len(responses))
        return all(r.ok for r in responses)

    operator = HttpOperator(
        task_id="items", http_conn_id="items_api", method="GET", endpoint="items",
        pagination_function=_by_cursor, response_check=check,
        response_filter=lambda responses: [i for r in responses for i in r.json()["items"]])
    assert operator.execute({}) == [1, 2, 3, 4, 5]
    assert seen == [3]


def test_a_bad_answer_of_the_pagination_function_names_the_task(http_api, monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_ITEMS_API", json.dumps(
        {"conn_type": "http", "host": http_api.base_url}))
    http_api.answer("/items", (200, PAGES[0]))
    operator = HttpOperator(task_id="items", http_conn_id="items_api", method="GET",
                            endpoint="items", pagination_function=lambda r: {"params": {}})
    with pytest.raises(ValueError, match=r"task 'items'.*unknown keys \['params'\]"):
        operator.execute({})
    with pytest.raises(DagDefinitionError, match="'items'.*pagination_function must be callable"):
        HttpOperator(task_id="items", pagination_function="next")


def test_string_data_and_endpoints_are_replaced_not_merged():
    first = {"endpoint": "a", "data": "x=1", "headers": {}, "extra_options": {"timeout": 5}}
    page = next_request(first, {"endpoint": "b", "extra_options": {"verify": False}})
    assert page == {"endpoint": "b", "data": "x=1", "headers": {},
                    "extra_options": {"timeout": 5, "verify": False}}
    assert next_request(first, {"data": "x=2"})["data"] == "x=2"
    assert first["extra_options"] == {"timeout": 5}  # the operator's own are left alone


def _next_link(response):
    link = response.json().get("next_link")
    return {"endpoint": link} if link else None


@pytest.mark.slow  # a run on the cluster: 2 to 5 s
def test_paginated_operator_in_a_run_hands_every_item_downstream(
        http_api, dask_client, db_url, tmp_path):
    store = Store(db_url)
    store.init()
    store.set_connection(ConnectionRecord(conn_id="orders_api", conn_type="http",
                                          host="127.0.0.1", port=http_api.port))
    http_api.answer("/orders/2024-01-02", (200, '{"ids": [1, 2], "next_link": "orders/p2"}'))
    http_api.answer("/orders/p2", (200, '{"ids": [3], "next_link": "orders/p3"}'))
    http_api.answer("/orders/p3", (200, '{"ids": []}'))
    http_api.answer("/broken/2024-01-02", (200, '{"ids": [1], "next_link": "broken/p2"}'))
    http_api.answer("/broken/p2", (503, "down for maintenance"))
    out = tmp_path / "ids.json"

    def save(ids):
        out.write_text(json.dumps(ids))

    def ids(responses):
        return [i for r in responses for i in r.json()["ids"]]

    with DAG("http_pages", start_date=datetime(2024, 1, 1)) as dag:
        fetch = HttpOperator(task_id="fetch", http_conn_id="orders_api", method="GET",
                             endpoint="orders/{{ ds }}", pagination_function=_next_link,
                             response_filter=ids)
        PythonOperator(task_id="save", python_callable=save, op_args=[fetch.output])
        HttpOperator(task_id="broken", http_conn_id="orders_api", method="GET",
                     endpoint="broken/{{ ds }}", pagination_function=_next_link)
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    store.dispose()
    states = {t: r.state for t, r in result.tasks.items()}
    assert states == {"fetch": "success", "save": "success", "broken": "failed"}, \
        {t: r.error for t, r in result.tasks.items()}
    assert json.loads(out.read_text()) == [1, 2, 3]
    assert "503" in result.tasks["broken"].error
    assert "'orders_api'" in result.tasks["broken"].error
    assert "down for maintenance" in result.tasks["broken"].error


def test_request_kwargs_go_with_every_page(http_api, monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_ITEMS_API", json.dumps(
        {"conn_type": "http", "host": http_api.base_url}))
    http_api.answer("/search", (200, '{"next": "c2"}'), (200, '{"next": null}'))
    operator = HttpOperator(task_id="search", http_conn_id="items_api", endpoint="search",
                            request_kwargs={"json": {"q": "tea"}},
                            pagination_function=lambda r: ({"headers": {"X-Cursor": "c2"}}
                                                           if r.json()["next"] else None))
    assert len(operator.execute({})) == 2
    calls = http_api.calls("/search")
    assert [json.loads(c.body) for c in calls] == [{"q": "tea"}, {"q": "tea"}]
    assert [c.headers.get("X-Cursor") for c in calls] == [None, "c2"]
