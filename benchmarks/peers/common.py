"""What every peer script shares: the workloads' sizes, their task bodies, timing, output.

This file is copied beside each peer script into that peer's own venv run
(it imports nothing but the standard library), so the task bodies are the
same code in every orchestrator. Each script prints one JSON line per
workload and mode: ``{"peer", "mode", "workload", "runs", "ok", "note"}``,
``runs`` the wall seconds of every measured run after one warm-up.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The issue's peer workloads: name -> what it is.
WORKLOADS = {
    "noop": "one task that does nothing",
    "chain": "100 no-op tasks, each after the one before",
    "fan-out": "one root, then 500 no-op tasks after it",
    "sleep": "8 tasks sleeping 1 s each, no dependencies",
    "cpu": "4 tasks of about 1 s of pure-Python arithmetic, no dependencies",
    "retry": "one task failing on its first two tries, retries=2, retry delay 1 s",
}
CHAIN, FAN, SLEEPS, SLEEP_S, CPUS, RETRIES, RETRY_DELAY_S = 100, 500, 8, 1.0, 4, 2, 1.0
#: Worker threads every peer may use at once, where it has the knob.
PARALLELISM = 8


def noop(*args: Any, **kwargs: Any) -> None:
    return None


def nap() -> float:
    time.sleep(SLEEP_S)
    return SLEEP_S


def spin(loops: int | None = None) -> int:
    loops = loops or int(os.environ.get("PEER_CPU_LOOPS", "20000000"))
    total = 0
    for i in range(loops):
        total += i * i
    # A small result: Airflow's task runner fails to push an XCom of an int past 64 bits.
    return total % 1_000_003


def flaky(counter: str | None = None) -> str:
    """Fails on the first ``RETRIES`` calls for the counter file, then succeeds."""
    path = Path(counter or os.environ["PEER_RETRY_COUNTER"])
    calls = int(path.read_text()) if path.exists() else 0
    path.write_text(str(calls + 1))
    if calls < RETRIES:
        raise RuntimeError(f"planned failure {calls + 1} of {RETRIES}")
    return "ok"


def reset_counter() -> str:
    path = Path(os.environ["PEER_RETRY_COUNTER"])
    path.unlink(missing_ok=True)
    return str(path)


def measure(peer: str, mode: str, workload: str, run: Callable[[], bool], repeat: int,
            note: str = "") -> dict[str, Any]:
    """``repeat`` timed calls of ``run`` after one warm-up; ``run`` returns success.

    ``ok`` is about the measured runs; a failed warm-up is said in the note.
    """
    runs, ok = [], True
    for i in range(repeat + 1):
        if workload == "retry":
            reset_counter()
        t0 = time.perf_counter()
        try:
            succeeded = run()
        except Exception as exc:  # a peer's failure is a result to report, not a crash
            succeeded, note = False, f"{type(exc).__name__}: {exc}"[:300]
        elapsed = time.perf_counter() - t0
        if i == 0 and not succeeded:
            note = f"the warm-up run failed ({note or 'no exception'}); " + note
        if i:
            ok = ok and bool(succeeded)
            runs.append(round(elapsed, 4))
    line = {"peer": peer, "mode": mode, "workload": workload, "runs": runs, "ok": ok,
            "note": note}
    print(json.dumps(line), flush=True)
    return line


def arguments() -> tuple[list[str], list[str], int]:
    """``--modes a,b --workloads x,y --repeat N`` from the command line."""
    args = sys.argv[1:]

    def value(flag: str, default: str) -> str:
        return args[args.index(flag) + 1] if flag in args else default

    modes = value("--modes", "").split(",") if "--modes" in args else []
    names = value("--workloads", ",".join(WORKLOADS)).split(",")
    return modes, names, int(value("--repeat", "3"))
