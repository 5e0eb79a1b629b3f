"""The peer workloads on Prefect 3: the thread-pool task runner, and ``prefect-dask``.

Runs inside Prefect's own venv (``run_peers.py`` makes it) with an
ephemeral API in ``$PREFECT_HOME``; prints one JSON line per workload and
mode (``common.py``). Modes:

- ``threads``: ``ThreadPoolTaskRunner(max_workers=8)``;
- ``dask``: ``DaskTaskRunner`` on one LocalCluster of 2 processes x 4 threads
  that this script starts once, as daskflow's runs use a running cluster.

Each flow run is timed from the call to its final state.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def flow_for(workload: str, task_runner):
    """The workload as a Prefect flow: tasks submitted to ``task_runner``, then awaited."""
    from prefect import flow, task
    from prefect.futures import wait

    noop = task(common.noop, name="noop")
    nap = task(common.nap, name="nap")
    spin = task(common.spin, name="spin")
    flaky = task(common.flaky, name="flaky", retries=common.RETRIES,
                 retry_delay_seconds=common.RETRY_DELAY_S)

    def body() -> None:
        if workload == "noop":
            futures = [noop.submit()]
        elif workload == "chain":
            last = noop.submit()
            for _ in range(common.CHAIN - 1):
                last = noop.submit(wait_for=[last])
            futures = [last]
        elif workload == "fan-out":
            root = noop.submit()
            futures = [noop.submit(wait_for=[root]) for _ in range(common.FAN)]
        elif workload == "sleep":
            futures = [nap.submit() for _ in range(common.SLEEPS)]
        elif workload == "cpu":
            futures = [spin.submit() for _ in range(common.CPUS)]
        else:
            futures = [flaky.submit()]
        wait(futures)
        for future in futures:
            future.result()

    return flow(body, name=f"peer-{workload}", task_runner=task_runner, log_prints=False)


def main() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    modes, names, repeat = common.arguments()
    for mode in modes or ["threads"]:
        if mode == "threads":
            for name in names:
                run = flow_for(name, ThreadPoolTaskRunner(max_workers=common.PARALLELISM))
                common.measure("prefect", mode, name,
                               lambda r=run: r(return_state=True).is_completed(), repeat,
                               note="ThreadPoolTaskRunner(max_workers=8)")
        elif mode == "dask":
            from distributed import LocalCluster
            from prefect_dask import DaskTaskRunner

            with LocalCluster(n_workers=2, threads_per_worker=4, processes=True,
                              dashboard_address=":0") as cluster:
                for name in names:
                    run = flow_for(name, DaskTaskRunner(address=cluster.scheduler_address))
                    common.measure("prefect", mode, name,
                                   lambda r=run: r(return_state=True).is_completed(), repeat,
                                   note="DaskTaskRunner on a running LocalCluster(2 x 4)")
        else:
            raise SystemExit(f"unknown mode {mode!r}; use threads or dask")


if __name__ == "__main__":
    main()
