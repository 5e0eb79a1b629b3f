"""daskflow beside Apache Airflow 3, Prefect 3 and Dagster on the same small workloads.

Run by hand from the repository root (on a quiet 2-core machine a full run
takes about 25 minutes once the peers are installed, most of it Airflow and
Prefect on the fan-out; on a busy one, hours)::

    PYTHONPATH=. python benchmarks/peers/run_peers.py [--peers daskflow,airflow,prefect,dagster]
        [--workloads noop,chain,fan-out,sleep,cpu,retry] [--repeat 3] [--timeout S]
        [--venvs DIR] [--out FILE]

Each peer runs in a venv of its own under ``--venvs`` (default
``~/.cache/daskflow-peers``), made on first use from the pinned
``requirements-PEER.txt`` beside this file; nothing of a peer is copied into
this repository. The workloads and their task bodies are in ``common.py``,
the same code for every peer. Each peer script prints one JSON line per
workload and mode; this script collects them and prints one table, the
median of ``--repeat`` runs after a warm-up, with the range and the load
average. The table goes to ``benchmarks/results/local/peers.md`` (ignored by
git) unless ``--out`` names a file.

Modes: daskflow ``dag.test`` on a running LocalCluster (2 processes x 4
threads); Airflow ``dag.test`` and its ``scheduler`` (LocalExecutor, SQLite);
Prefect with its thread-pool task runner and with ``prefect-dask``; Dagster
in process and with ``dagster-dask``. Every peer may use 8 threads or
processes where it has the knob.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks._loopbench import load, machine_info, write_result  # noqa: E402

#: Each peer: its script, the modes it runs, and whether it needs its own venv.
PEERS = {
    "daskflow": ("daskflow_peer.py", ["dag.test"], False),
    "airflow": ("airflow_peer.py", ["dag.test", "scheduler"], True),
    "prefect": ("prefect_peer.py", ["threads", "dask"], True),
    "dagster": ("dagster_peer.py", ["in-process", "dask"], True),
}


def venv_python(venvs: Path, peer: str, base_python: str) -> Path:
    """The peer's venv interpreter, making the venv and installing the pins if needed."""
    folder = venvs / peer
    python = folder / "bin" / "python"
    pins = (HERE / f"requirements-{peer}.txt").read_text()
    stamp = folder / "daskflow-peer-pins.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == pins:
        return python
    print(f"installing {peer} into {folder} (pinned in requirements-{peer}.txt) ...",
          file=sys.stderr, flush=True)
    subprocess.run([base_python, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r",
                    str(HERE / f"requirements-{peer}.txt")], check=True)
    stamp.write_text(pins)
    return python


def peer_env(peer: str, work: Path, cpu_loops: int) -> dict[str, str]:
    """The environment of a peer's run: its own home folders, the shared workload knobs.

    Each peer's usage telemetry is switched off: the runs talk to nothing but
    this machine.
    """
    env = {**os.environ, "PEER_RETRY_COUNTER": str(work / "retry-counter"),
           "PEER_CPU_LOOPS": str(cpu_loops)}
    if peer == "daskflow":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["DASKFLOW_HOME"] = str(work)
    elif peer == "airflow":
        env.update({"AIRFLOW_HOME": str(work), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work}/airflow.db",
                    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__CORE__PARALLELISM": "8",
                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
                    # Tasks run by the scheduler's executor report to the API server
                    # that airflow_peer.py starts on this port.
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
                        "http://localhost:28793/execution/"})
    elif peer == "prefect":
        # The ephemeral API server starts slowly on a busy machine (20 s is its default).
        env.update({"PREFECT_HOME": str(work), "PREFECT_LOGGING_LEVEL": "WARNING",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    elif peer == "dagster":
        env["DAGSTER_HOME"] = str(work)
        (work / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return env


def run_peer(peer: str, python: Path, modes: list[str], names: list[str], repeat: int,
             cpu_loops: int, work: Path, timeout: float = 1200) -> list[dict]:
    """Run one peer's script; the JSON lines it printed (its log goes to ``work``).

    The script runs in a process group of its own, which is killed once the
    script ends or after ``timeout`` seconds: a peer that hangs (seen with
    ``dagster-dask`` on the chain) costs its remaining workloads, not the whole
    comparison, and what a peer leaves running (Dagster's log tails) goes too.
    """
    work.mkdir(parents=True, exist_ok=True)
    env = peer_env(peer, work, cpu_loops)
    if peer == "airflow":
        subprocess.run([str(python.with_name("airflow")), "db", "migrate"], env=env,
                       check=True, capture_output=True)
    script = HERE / PEERS[peer][0]
    command = [str(python), str(script), "--modes", ",".join(modes), "--workloads",
               ",".join(names), "--repeat", str(repeat)]
    out_path = work / "results.jsonl"
    with open(work / "run.log", "w") as log, open(out_path, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=log, text=True,
                                   start_new_session=True)
        try:
            returncode: int | str = process.wait(timeout)
        except subprocess.TimeoutExpired:
            returncode = f"timed out after {timeout:g} s"
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    lines = [json.loads(line) for line in out_path.read_text().splitlines()
             if line.startswith('{"peer"')]
    if returncode != 0:
        status = returncode if isinstance(returncode, str) else f"exit {returncode}"
        lines.append({"peer": peer, "mode": ",".join(modes), "workload": "(script)",
                      "runs": [], "ok": False, "note": f"{status}; see {work / 'run.log'}"})
    return lines


def cpu_loops_for(seconds: float = 1.0) -> int:
    """``spin`` loops that take about ``seconds`` here, so every peer runs the same work."""
    sys.path.insert(0, str(HERE))
    import common

    probe = 2_000_000
    t0 = time.perf_counter()
    common.spin(probe)
    return round(probe * seconds / (time.perf_counter() - t0))


def render(lines: list[dict], names: list[str], repeat: int, loads: list[str],
           cpu_loops: int) -> str:
    columns = sorted({(x["peer"], x["mode"]) for x in lines},
                     key=lambda c: (list(PEERS).index(c[0]), c[1]))
    cells = {(x["peer"], x["mode"], x["workload"]): x for x in lines}

    def cell(peer: str, mode: str, name: str) -> str:
        x = cells.get((peer, mode, name))
        if x is None:
            return "-"
        if not x["runs"]:
            return "failed"
        text = f"{statistics.median(x['runs']):.2f} ({min(x['runs']):.2f}-{max(x['runs']):.2f})"
        return text if x["ok"] else text + " failed"

    rows = ["| workload | " + " | ".join(f"{p} {m}" for p, m in columns) + " |",
            "|---|" + "---:|" * len(columns)]
    for name in ["start-up", *names]:
        if any((p, m, name) in cells for p, m in columns):
            rows.append(f"| {name} | " + " | ".join(cell(p, m, name) for p, m in columns) + " |")
    notes = sorted({f"- {x['peer']} {x['mode']} {x['workload']}: {x['note']}" for x in lines
                    if x["note"] and (not x["ok"] or x["workload"] == "(script)")})
    return "\n".join([
        "# daskflow beside Airflow, Prefect and Dagster",
        "",
        f"`PYTHONPATH=. python benchmarks/peers/run_peers.py {' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d %H:%M')}. Seconds per run: the median of {repeat} runs "
        f"after a warm-up, with their range. Each CPU task spins {cpu_loops:,} loops.",
        "",
        f"Machine: {machine_info()}. Load average (1/5/15 min) before each peer: "
        + "; ".join(loads) + ".",
        "",
        *rows,
        "",
        *notes,
    ]) + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--modes", default=None,
                   help="comma-separated modes to run (default: every mode of each peer)")
    p.add_argument("--workloads", default="noop,chain,fan-out,sleep,cpu,retry")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=1200,
                   help="seconds one peer's script may take before it is killed")
    p.add_argument("--venvs", default=str(Path.home() / ".cache" / "daskflow-peers"))
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter the peers' venvs are made from (Python 3.11 here)")
    p.add_argument("--cpu-loops", type=int, default=None,
                   help="spin loops of each CPU task (default: about 1 s here, measured at "
                        "the start); give the same number to runs that will be compared")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="results file (default: benchmarks/results/local/peers.md)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    names = args.workloads.split(",")
    peers = args.peers.split(",")
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        raise SystemExit(f"unknown peers {unknown}; choose from {', '.join(PEERS)}")
    cpu_loops = args.cpu_loops or cpu_loops_for(1.0)
    work = Path(tempfile.mkdtemp(prefix="daskflow-peers-"))
    lines, loads = [], []
    for peer in peers:
        script, modes, own_venv = PEERS[peer]
        if args.modes:
            modes = [m for m in modes if m in args.modes.split(",")]
        python = (venv_python(Path(args.venvs), peer, args.python) if own_venv
                  else Path(sys.executable))
        loads.append(f"{peer} {load()}")
        print(f"{peer}: {', '.join(modes)} ...", file=sys.stderr, flush=True)
        lines += run_peer(peer, python, modes, names, args.repeat, cpu_loops, work / peer,
                          args.timeout)
        # Written after every peer, so an interrupted hour-long run keeps what it measured.
        path = write_result("peers", render(lines, names, args.repeat, loads, cpu_loops), args.out)
        print(f"{peer} done; table so far in {path}", file=sys.stderr, flush=True)
    print(render(lines, names, args.repeat, loads, cpu_loops))
    print(f"written to {path}; logs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
