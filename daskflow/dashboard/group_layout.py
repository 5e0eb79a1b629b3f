"""Where Dask's Groups page draws each task group, in an order that always works.

Dask's Groups page (``/groups``, and ``/individual-groups``) places each task
group to the right of the groups it depends on, so it must visit a group's
dependencies first. distributed 2026.8 asks ``dask.order.order`` for that
visiting order, handing it the group graph as ``dependencies=``; but
``dask.order`` now reads the dependencies from the graph's values alone and
ignores that argument, so the groups come in reverse name order. Any group
whose upstream group's name sorts before its own - ``slow.make`` feeding
``slow.crunch`` feeding ``slow.total`` - is placed before its upstream, the
lookup of the upstream's place raises ``KeyError: 'slow.crunch'``, and the
page answers HTTP 500 for as long as those groups live. Plain Dask code hits
it as well (``make`` -> ``crunch`` -> ``total`` delayed functions); daskflow,
whose keys name each task, hits it on most DAGs with a mapped task.

daskflow cannot rename its way out: Dask takes a key's group name from the
same text as its prefix, which is the task id users need to read. So the
Dask scheduler that runs daskflow's plugin gets this layout instead: groups in
an order where every group comes after the groups it depends on (by name
among equals, so the picture is stable), a group depending on a group that no
longer exists drawn as a root, and a cycle between groups (possible when two
keys of one group sit on both sides of another group) broken at its
first name instead of failing.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("daskflow.dashboard")

Position = tuple[int, int]


def visiting_order(dependencies: Mapping[str, set[str]]) -> list[str]:
    """Every group once, each after the groups it depends on that exist.

    >>> visiting_order({"slow.total": {"slow.crunch"}, "slow.crunch": {"slow.make"},
    ...                 "slow.make": set()})
    ['slow.make', 'slow.crunch', 'slow.total']
    >>> visiting_order({"a": {"b"}, "b": {"a"}})  # a cycle is broken, not an error
    ['a', 'b']
    """
    waiting = {g: {d for d in deps if d in dependencies and d != g}
               for g, deps in dependencies.items()}
    dependents: dict[str, set[str]] = {g: set() for g in dependencies}
    for group, deps in waiting.items():
        for dep in deps:
            dependents[dep].add(group)
    ready = [g for g, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(waiting):
        if not ready:  # only cycles remain: start one at its first name
            heapq.heappush(ready, min(g for g in waiting if g not in placed))
        group = heapq.heappop(ready)
        if group in placed:
            continue
        placed.add(group)
        order.append(group)
        for child in sorted(dependents[group]):
            waiting[child].discard(group)
            if not waiting[child] and child not in placed:
                heapq.heappush(ready, child)
    return order


def place(dependencies: Mapping[str, set[str]]) -> dict[str, Position]:
    """An ``(x, y)`` cell per group: one column right of its furthest dependency.

    A group starts on the row of its highest dependency (a fresh row for a
    group without one) and moves up until its cell is free.

    >>> place({"make": set(), "crunch": {"make"}, "total": {"crunch"}, "other": set()})
    {'crunch': (1, 0), 'make': (0, 0), 'other': (0, 1), 'total': (2, 0)}
    """
    positions: dict[str, Position] = {}
    taken: set[Position] = set()
    for group in visiting_order(dependencies):
        placed = [positions[d] for d in dependencies[group] if d in positions and d != group]
        if placed:
            x = 1 + max(p[0] for p in placed)
            y = max(p[1] for p in placed)
        else:
            x, y = 0, 1 + max((p[1] for p in positions.values()), default=-1)
        while (x, y) in taken:
            y += 1
        taken.add((x, y))
        positions[group] = (x, y)
    return dict(sorted(positions.items()))


def _layout(component: Any) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, list]]]:
    """``TaskGroupGraph.update_layout`` for distributed's Groups page, built on :func:`place`."""
    groups = component.scheduler.task_groups
    dependencies = {name: {d.name for d in group.dependencies
                           if d.name != name and d.name in groups}
                    for name, group in groups.items()}
    positions = place(dependencies)
    nodes = {name: {"x": x, "y": y} for name, (x, y) in positions.items()}
    arrows = {name: {"nstart": sorted(deps), "nend": [name] * len(deps)}
              for name, deps in dependencies.items()}
    return nodes, arrows


def install() -> bool:
    """Give the Groups page of the Dask dashboard in this process the layout above.

    Called where daskflow's scheduler plugin starts (the process serving the
    dashboard). Returns False, changing nothing, where the dashboard is not
    installed (no Bokeh) or its Groups component no longer has the method.
    """
    try:
        from distributed.dashboard.components.scheduler import TaskGroupGraph
    except ImportError:  # no Bokeh: no dashboard to fix
        return False
    if getattr(TaskGroupGraph.update_layout, "_daskflow", False):
        return True
    if not callable(getattr(TaskGroupGraph, "update_layout", None)):
        logger.info("distributed's TaskGroupGraph has no update_layout; Groups page left as is")
        return False
    _layout._daskflow = True  # type: ignore[attr-defined]
    TaskGroupGraph.update_layout = _layout
    return True
