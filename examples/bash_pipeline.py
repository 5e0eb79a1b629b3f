"""bash_pipeline: shell steps with templated commands, environment and a skip.

    prepare >> write_numbers >> weekday_only >> publish

- Commands are Jinja templates rendered just before they run: ``{{ ds }}``,
  ``{{ params.rows }}``, ``{{ logical_date.weekday() }}`` and
  ``{{ ti.xcom_pull(task_ids='prepare') }}`` (the last line a BashOperator
  prints is its return value).
- ``env`` is templated too; with ``append_env=True`` it is added to the
  worker's environment instead of replacing it.
- ``weekday_only`` exits with code 99 on Saturdays and Sundays, which ends it
  ``skipped`` (``skip_on_exit_code``, 99 by default); ``publish`` is then
  skipped too, and the run still succeeds. Any other non-zero code fails a task.

The output goes to ``<params.work_dir>/<ds>/``; ``work_dir`` defaults to a folder
in the system's temporary directory.

Expected states for a weekday (2025-01-06): all four tasks ``success``. For a
weekend day (2025-01-04): ``prepare`` and ``write_numbers`` success,
``weekday_only`` and ``publish`` skipped. The run succeeds both times.

    daskflow dags test bash_pipeline --dags-folder examples/ --logical-date 2025-01-04
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime

from daskflow import DAG
from daskflow.operators import BashOperator

with DAG(
    dag_id="bash_pipeline",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example"],
    params={"work_dir": os.path.join(tempfile.gettempdir(), "daskflow-bash-pipeline"),
            "rows": 5},
) as dag:
    prepare = BashOperator(
        task_id="prepare",
        bash_command='mkdir -p "$OUT" && echo "$OUT"',
        env={"OUT": "{{ params.work_dir }}/{{ ds }}"},
        append_env=True,
    )
    write_numbers = BashOperator(
        task_id="write_numbers",
        bash_command="seq 1 {{ params.rows }} > {{ ti.xcom_pull(task_ids='prepare') }}/numbers.txt"
                     " && wc -l < {{ ti.xcom_pull(task_ids='prepare') }}/numbers.txt",
    )
    weekday_only = BashOperator(
        task_id="weekday_only",
        bash_command='if [ {{ logical_date.weekday() }} -ge 5 ]; then '
                     'echo "{{ ds }} is a weekend day: nothing to publish"; exit 99; fi; '
                     'echo "{{ ds }} is a weekday"',
        skip_on_exit_code=99,
    )
    publish = BashOperator(
        task_id="publish",
        bash_command='echo "published {{ ds }}" > "$DIR/published.txt" && cat "$DIR/published.txt"',
        env={"DIR": "{{ params.work_dir }}/{{ ds }}"},
        append_env=True,
    )
    prepare >> write_numbers >> weekday_only >> publish
