"""The example DAG of docs/integrations.md's "HTTP, e-mail and webhooks" section runs
against an HTTP server and an SMTP server started here (the doc test, which has no
servers, does not run it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from daskflow.store import ConnectionRecord, Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
SECTION = DOC.read_text().split("## HTTP, e-mail and webhooks", 1)[1].split("\n## ", 1)[0]
[EXAMPLE] = [b for b in re.findall(r"```text\n(.*?)```", SECTION, flags=re.S) if "with DAG(" in b]
TOKEN = "T0000/B0000/docEXAMPLEtoken"


def test_the_example_dag_runs_against_local_servers(http_api, smtp_server, dask_client,
                                                     db_url):
    store = Store(db_url)
    store.init()
    store.set_connection(ConnectionRecord(conn_id="orders_api", conn_type="http",
                                          host=http_api.base_url, login="etl",
                                          password="s3cret"))
    store.set_connection(ConnectionRecord(
        conn_id="smtp_default", conn_type="smtp", host=smtp_server.host, port=smtp_server.port,
        extra=json.dumps({"disable_ssl": True, "disable_tls": True,
                          "from_email": "reports@example.com"})))
    store.set_connection(ConnectionRecord(conn_id="slack_default", conn_type="slackwebhook",
                                          host=http_api.base_url, password=TOKEN))
    http_api.answer("/exports/2025-03-04", (404, "not yet"), (200, "{}"))
    http_api.answer("/exports/2025-03-04/summary", (200, '{"complete": true, "orders": 17}'))
    http_api.answer(f"/{TOKEN}", (200, "ok"))
    namespace: dict = {"__name__": "doc_example"}
    exec(compile(EXAMPLE, str(DOC), "exec"), namespace)
    dag = namespace["dag"]
    dag.task_dict["export_ready"].poke_interval = 0.1  # the doc's 5 minutes, shortened

    result = dag.test(logical_date="2025-03-04", cluster=dask_client, db=db_url)
    store.dispose()

    errors = {t: r.error for t, r in result.tasks.items() if r.error}
    assert {t: r.state for t, r in result.tasks.items()} == {
        "export_ready": "success", "count_orders": "success", "mail_report": "success",
        "post_to_slack": "success"}, errors
    assert len(http_api.calls("/exports/2025-03-04")) == 2
    [message] = smtp_server.messages()
    assert message["Subject"] == "Orders on 2025-03-04"
    assert next(message.iter_parts()).get_content() == "<p>17 orders</p>"
    [post] = http_api.calls(f"/{TOKEN}")
    assert json.loads(post.body) == {"text": "17 orders on 2025-03-04"}
