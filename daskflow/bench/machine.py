"""The machine a result was measured on: cores, memory, versions, load.

A figure without its machine is not comparable with anything, and on a
shared machine the load average says how much to trust it, so every
result file carries this block and every workload records the load
before and after it ran.
"""

from __future__ import annotations

import os
import platform
import socket
from importlib.metadata import PackageNotFoundError, version
from typing import Any

#: The packages whose versions decide what a figure means.
PACKAGES = ("daskflow", "dask", "distributed", "sqlalchemy", "bokeh", "numpy", "tornado",
            "cloudpickle", "msgpack")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to two decimals."""
    return [round(x, 2) for x in os.getloadavg()]


def describe_machine() -> dict[str, Any]:
    """Cores, memory, processor, operating system and package versions of this machine.

    >>> sorted(describe_machine())[:3]
    ['cores', 'cpu', 'host']
    """
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "host": socket.gethostname(),
        "load_average": load_average(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in PACKAGES},
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
