"""The peer workloads on Dagster: in process, and on Dask with ``dagster-dask``.

Runs inside Dagster's own venv (``run_peers.py`` makes it) with
``$DAGSTER_HOME`` in a temporary folder; prints one JSON line per workload
and mode (``common.py``). Modes:

- ``in-process``: ``job.execute_in_process()``, Dagster's way to run a job
  from Python (ops one after another, in this process);
- ``dask``: ``execute_job`` of the reconstructable job with ``dask_executor``
  on one LocalCluster of 2 processes x 4 threads that this script starts once.

Ops depend on each other through ``Nothing`` inputs (order, no data), as
the other peers' no-op tasks do.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def build_job(workload: str, address: str | None = None):
    """The workload as a Dagster job; on ``dask_executor`` when ``address`` is given."""
    from dagster import In, Nothing, RetryPolicy, job, op

    @op(ins={"after": In(Nothing)})
    def noop() -> None:
        common.noop()

    @op
    def nap() -> float:
        return common.nap()

    @op
    def spin() -> int:
        return common.spin()

    @op(retry_policy=RetryPolicy(max_retries=common.RETRIES, delay=common.RETRY_DELAY_S))
    def flaky() -> str:
        return common.flaky()

    def body() -> None:
        if workload == "noop":
            noop.alias("noop")()
        elif workload == "chain":
            last = noop.alias("t0")()
            for i in range(1, common.CHAIN):
                last = noop.alias(f"t{i}")(after=last)
        elif workload == "fan-out":
            root = noop.alias("root")()
            for i in range(common.FAN):
                noop.alias(f"t{i}")(after=root)
        elif workload == "sleep":
            for i in range(common.SLEEPS):
                nap.alias(f"sleep{i}")()
        elif workload == "cpu":
            for i in range(common.CPUS):
                spin.alias(f"cpu{i}")()
        else:
            flaky()

    name = "peer_" + workload.replace("-", "_")
    if address is None:
        return job(name=name)(body)
    from dagster_dask import dask_executor

    return job(name=name, executor_def=dask_executor)(body)


def main() -> None:
    modes, names, repeat = common.arguments()
    for mode in modes or ["in-process"]:
        if mode == "in-process":
            for name in names:
                built = build_job(name)
                common.measure("dagster", mode, name,
                               lambda j=built: j.execute_in_process().success, repeat,
                               note="execute_in_process")
        elif mode == "dask":
            from dagster import DagsterInstance, build_reconstructable_job, execute_job
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=4, processes=True,
                              dashboard_address=":0") as cluster, \
                    DagsterInstance.get() as instance:
                config = {"execution": {"config": {"cluster": {"existing": {
                    "address": cluster.scheduler_address}}}}}
                for name in names:
                    recon = build_reconstructable_job("dagster_peer", "build_job",
                                                      (name, cluster.scheduler_address))
                    common.measure(
                        "dagster", mode, name,
                        lambda r=recon, c=config: execute_job(r, instance=instance,
                                                    run_config=c).success,
                        repeat, note="dask_executor on a running LocalCluster(2 x 4)")
        else:
            raise SystemExit(f"unknown mode {mode!r}; use in-process or dask")


if __name__ == "__main__":
    main()
