"""Where the graph page draws each task: collapsed task groups, layers, one state per node.

Pure functions over a DAG version's stored structure (``DAG.structure()``:
``{task_id: {"upstream": [...], "mapped": bool, "groups": [...]}}``), so the
rules are tested without Bokeh, a cluster or a store.

* A task group is drawn as one node until it is expanded; a group inside a
  collapsed group is hidden with it. A task belongs to the outermost
  collapsed group around it.
* Columns are layers by the longest path from a root, computed on the tasks
  (acyclic) and then given to visible nodes: a collapsed group takes the
  column of its earliest member. Columns left empty by collapsing are
  removed, so a collapsed group never leaves a gap.
* A node's state is the one a user must look at first among its instances
  (:func:`summary_state`): a failure anywhere in a group or a mapped task
  shows, and a node is green only when all of it succeeded or was skipped.

    >>> tasks = {"a": {"upstream": []}, "g.x": {"upstream": ["a"], "groups": ["g"]},
    ...          "g.y": {"upstream": ["g.x"], "groups": ["g"]}, "b": {"upstream": ["g.y"]}}
    >>> [(n.node_id, n.column) for n in layout(tasks, expanded=set()).nodes]
    [('a', 0), ('g', 1), ('b', 2)]
    >>> layout(tasks, expanded={"g"}).edges
    [('a', 'g.x'), ('g.x', 'g.y'), ('g.y', 'b')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: States in the order a user needs to see them: the first present one is a node's.
STATE_PRIORITY: tuple[str | None, ...] = (
    "failed", "upstream_failed", "up_for_retry", "up_for_reschedule", "running",
    "deferred", "queued", "scheduled", None, "removed", "success", "skipped",
)


@dataclass(frozen=True)
class Node:
    """One box of the graph: a task, or a collapsed task group."""

    node_id: str
    is_group: bool
    #: The task ids this node stands for (one, unless a group).
    members: tuple[str, ...]
    mapped: bool
    column: int
    row: int


@dataclass(frozen=True)
class Layout:
    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    #: Every group id of the DAG, outer groups first: what the page offers to expand.
    groups: list[str] = field(default_factory=list)


def summary_state(states: Iterable[str | None]) -> str | None:
    """The state one node shows for several instances.

    >>> summary_state(["success", "failed", "running"])
    'failed'
    >>> summary_state(["success", "skipped"])
    'success'
    >>> summary_state([None, "success"]) is None
    True
    """
    present = set(states)
    for state in STATE_PRIORITY:
        if state in present:
            return state
    return next(iter(present), None)


def visible_node(task: Mapping[str, Any], task_id: str, expanded: set[str]) -> str:
    """The node a task is drawn in: itself, or the outermost collapsed group around it."""
    for group in task.get("groups") or ():
        if group not in expanded:
            return group
    return task_id


def layout(tasks: Mapping[str, Mapping[str, Any]], expanded: set[str]) -> Layout:
    """Nodes (with column and row) and edges of the graph with ``expanded`` groups open."""
    owner = {task_id: visible_node(task, task_id, expanded) for task_id, task in tasks.items()}
    depth = _depths(tasks)
    members: dict[str, list[str]] = {}
    for task_id in tasks:  # structure order is topological
        members.setdefault(owner[task_id], []).append(task_id)
    column = {node: min(depth[t] for t in ids) for node, ids in members.items()}
    dense = {c: i for i, c in enumerate(sorted(set(column.values())))}
    rows: dict[int, int] = {}
    nodes = []
    for node_id, ids in members.items():
        col = dense[column[node_id]]
        rows[col] = rows.get(col, -1) + 1
        is_group = node_id not in tasks
        mapped = not is_group and bool(tasks[node_id].get("mapped"))
        nodes.append(Node(node_id, is_group, tuple(ids), mapped, col, rows[col]))
    edges: dict[tuple[str, str], None] = {}
    for task_id, task in tasks.items():
        for upstream in task.get("upstream") or ():
            edge = (owner.get(upstream, upstream), owner[task_id])
            if edge[0] != edge[1] and edge[0] in members:
                edges[edge] = None
    groups = sorted({g for t in tasks.values() for g in t.get("groups") or ()},
                    key=lambda g: (g.count("."), g))
    return Layout(nodes, list(edges), groups)


def _depths(tasks: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Longest path from a root for each task; the structure lists tasks upstream first."""
    depth: dict[str, int] = {}
    for task_id, task in tasks.items():
        ups = [depth[u] for u in task.get("upstream") or () if u in depth]
        depth[task_id] = 1 + max(ups, default=-1)
    return depth
