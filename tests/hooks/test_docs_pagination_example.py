"""The example of docs/integrations.md's "Paging through an HTTP API" section runs against
an HTTP server started here (the doc test, which has no server, does not run it)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from daskflow.store import ConnectionRecord, Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
SECTION = DOC.read_text().split("## Paging through an HTTP API", 1)[1].split("\n## ", 1)[0]
[EXAMPLE] = re.findall(r"```text\n(.*?)```", SECTION, flags=re.S)


def test_the_pagination_example_gathers_every_page(http_api, dask_client, db_url):
    store = Store(db_url)
    store.init()
    store.set_connection(ConnectionRecord(conn_id="crm_api", conn_type="http",
                                          host=http_api.base_url))
    http_api.answer("/customers",
                    (200, '{"items": [{"id": 1}, {"id": 2}], "next_cursor": "p2"}'),
                    (200, '{"items": [{"id": 3}], "next_cursor": "p3"}'),
                    (200, '{"items": [], "next_cursor": null}'))
    namespace: dict = {"__name__": "doc_example"}
    exec(compile(EXAMPLE, str(DOC), "exec"), namespace)
    result = namespace["dag"].test(logical_date="2025-03-04", cluster=dask_client, db=db_url)

    assert result.tasks["customers"].state == "success", result.tasks["customers"].error
    [xcom] = store.list_xcoms("http_pagination_example", result.run_id, "customers")
    value = xcom.value if not isinstance(xcom.value, str) else json.loads(xcom.value)
    assert value == [{"id": 1}, {"id": 2}, {"id": 3}]
    queries = [parse_qs(urlsplit(c.path).query) for c in http_api.calls("/customers")]
    assert queries == [{"changed": ["2025-03-04"], "limit": ["100"]},
                       {"changed": ["2025-03-04"], "limit": ["100"], "cursor": ["p2"]},
                       {"changed": ["2025-03-04"], "limit": ["100"], "cursor": ["p3"]}]
    store.dispose()
