"""Take the screenshots of docs/monitoring.md from a real run, in headless Chromium.

Runs a small shop pipeline three times on the embedded cluster (one run
with a task that fails, one that succeeds on its second try, a mapped
task, and an API key that the log masks), then opens each daskflow page
and saves a PNG under docs/images/.

    PYTHONPATH=. python scripts/dashboard_screenshots.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from daskflow import DAG, mask_secret, task
from daskflow.operators import BashOperator, PythonOperator

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
FLAGS = Path(tempfile.mkdtemp(prefix="daskflow-shots-"))


def extract() -> int:
    api_key = "sk_live_" + "51HxQ2eZvKYlo2C"
    mask_secret(api_key)
    print(f"GET https://shop.example/api/orders?key={api_key}")
    return 120


def check_quota() -> str:
    flag = FLAGS / "quota"
    if not flag.exists():
        flag.touch()
        raise TimeoutError("quota service did not answer in 5 s")
    return "ok"


def publish(fail: bool) -> None:
    print("uploading the report to the warehouse")
    if fail:
        raise PermissionError("warehouse refused the upload: role 'reporter' lacks INSERT")


@task
def regions() -> list[str]:
    return ["eu", "us", "apac", "latam"]


@task
def score(region: str) -> float:
    print(f"scoring orders of {region}")
    return float(len(region))


def shop_etl(fail: bool) -> DAG:
    with DAG("shop_etl", schedule="@daily", tags=["shop", "etl"],
             default_args={"owner": "data-eng"}) as dag:
        pull = PythonOperator(task_id="extract", python_callable=extract)
        quota = PythonOperator(task_id="check_quota", python_callable=check_quota, retries=1,
                               retry_delay=0)
        report = BashOperator(task_id="render_report",
                              bash_command="echo 'orders of {{ ds }}'")
        upload = PythonOperator(task_id="publish", python_callable=publish, op_args=[fail])
        scores = score.expand(region=regions())
        pull >> quota >> scores >> report >> upload
    return dag


def shoot(page, name: str, full_page: bool = True) -> None:
    page.wait_for_timeout(800)  # let the last websocket patch paint
    page.screenshot(path=str(IMAGES / f"dashboard-{name}.png"), full_page=full_page)
    print("wrote", IMAGES / f"dashboard-{name}.png")


def main() -> None:
    from playwright.sync_api import sync_playwright

    from daskflow.execution.cluster import connect, dashboard_url
    from daskflow.execution.single_run import run_once

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium: apt-get install -y chromium")
    IMAGES.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="daskflow-shots-home-"))
    os.environ["DASKFLOW_HOME"] = str(home)
    db = f"sqlite:///{home / 'daskflow.db'}"
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with connect(workers=2, threads_per_worker=1) as client:
        root = dashboard_url(client).rsplit("/", 1)[0]
        results = [run_once(shop_etl(fail=(n == 2)), day - timedelta(days=2 - n),
                            cluster=client, db=db) for n in range(3)]
        last = results[-1]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1100, "height": 640})
            page.goto(f"{root}/daskflow/dags")
            page.get_by_text("shop_etl").first.wait_for()
            shoot(page, "dags")
            page.goto(f"{root}/daskflow/grid?dag_id=shop_etl")
            page.get_by_text("Newest run").first.wait_for()
            page.evaluate("""() => {
                const doc = Bokeh.documents[0];
                const tasks = doc.get_model_by_name("grid-tasks").data;
                const cells = doc.get_model_by_name("grid-cells");
                const names = tasks instanceof Map ? tasks.get("task_id") : tasks.task_id;
                const ys = cells.data instanceof Map ? cells.data.get("y") : cells.data.y;
                cells.selected.indices = [Array.from(ys).indexOf(names.indexOf("score"))];
            }""")
            page.get_by_text("score[3]").first.wait_for()
            shoot(page, "grid")
            run = quote(last.run_id)
            page.goto(f"{root}/daskflow/task?dag_id=shop_etl&run_id={run}&task_id=publish")
            page.get_by_text("lacks INSERT").first.wait_for()
            shoot(page, "task")
            page.goto(f"{root}/daskflow/task?dag_id=shop_etl&run_id={run}&task_id=extract")
            page.get_by_text("key=***").first.wait_for()
            shoot(page, "task-masked")
            page.goto(f"{root}/daskflow/code?dag_id=shop_etl&run_id={run}")
            page.get_by_text("def shop_etl").first.wait_for()
            shoot(page, "code", full_page=False)  # the top of the file is enough
            page.goto(f"{root}/daskflow/graph?dag_id=shop_etl&run_id={run}")
            page.get_by_text("shop_etl: graph").first.wait_for()
            shoot(page, "graph")
            page.goto(f"{root}/daskflow/gantt?dag_id=shop_etl&run_id={run}")
            page.get_by_text("while queued").first.wait_for()
            shoot(page, "gantt")
            browser.close()


if __name__ == "__main__":
    main()
