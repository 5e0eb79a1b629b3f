"""Any Dask deployment library, named in configuration: construct, scale, close.

Dask's deployment libraries (``dask_jobqueue.SLURMCluster``,
``dask_kubernetes.operator.KubeCluster``, ``distributed.LocalCluster``, ...)
share one interface: a class whose constructor takes keyword arguments and
whose instance has ``scale(n)``, ``adapt(minimum=, maximum=)`` and
``close()``. So daskflow needs no code per library: a :class:`ClusterSpec`
names the class by import path and carries its keyword arguments and how to
size it, and :func:`start_cluster` does the rest. The settings are
``daskflow.cluster-class``, ``daskflow.cluster-kwargs`` and
``daskflow.cluster-scale`` (docs/deployment.md); they sit beside
``daskflow.cluster``, the address of a cluster someone else runs, which wins
when both are set.

>>> spec = ClusterSpec("distributed.LocalCluster", {"processes": False}, workers=1)
>>> spec.scaling()
'scale(1)'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from daskflow import config
from daskflow.exceptions import ClusterError

CLASS_SETTING = "daskflow.cluster-class"
KWARGS_SETTING = "daskflow.cluster-kwargs"
SCALE_SETTING = "daskflow.cluster-scale"


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster to start: its class's import path, keyword arguments and size.

    ``workers`` scales it to a fixed number of workers; ``minimum`` and
    ``maximum`` make it adaptive instead; with neither, the class's own
    keyword arguments (``n_workers=``, ...) decide.
    """

    class_path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    workers: int | None = None
    minimum: int | None = None
    maximum: int | None = None

    def __post_init__(self) -> None:
        adaptive = self.minimum is not None or self.maximum is not None
        if self.workers is not None and adaptive:
            raise ClusterError(
                f"{SCALE_SETTING} sets both workers ({self.workers}) and an adaptive "
                f"minimum/maximum ({self.minimum}/{self.maximum}); set one or the other")
        if not isinstance(self.kwargs, dict):
            raise ClusterError(f"{KWARGS_SETTING} must be a mapping of keyword arguments, "
                               f"got {self.kwargs!r}")

    def scaling(self) -> str:
        """How the cluster is sized once constructed, as the call made."""
        if self.workers is not None:
            return f"scale({self.workers})"
        if self.minimum is not None or self.maximum is not None:
            return f"adapt(minimum={self.minimum or 0}, maximum={self.maximum})"
        return "as constructed"


def spec_from_config(workers: int | None = None) -> ClusterSpec | None:
    """The cluster the settings name, or ``None`` when ``daskflow.cluster-class`` is unset.

    ``workers`` (a command's ``--workers``) overrides the configured size.
    """
    class_path = config.get("cluster-class", None)
    if not class_path:
        return None
    scale = config.get("cluster-scale", {}) or {}
    if workers is not None:
        return ClusterSpec(str(class_path), _kwargs_setting(), workers=workers)
    return ClusterSpec(str(class_path), _kwargs_setting(), workers=scale.get("workers"),
                       minimum=scale.get("minimum"), maximum=scale.get("maximum"))


def _kwargs_setting() -> Any:
    kwargs = config.get("cluster-kwargs", {})
    return {} if kwargs is None else kwargs


def load_cluster_class(class_path: str) -> type:
    """The class ``class_path`` names; one :class:`ClusterError` naming the setting if not."""
    module_name, _, name = class_path.rpartition(".")
    if not module_name:
        raise ClusterError(f"{CLASS_SETTING} {class_path!r} is not an import path; write "
                           "module.Class, e.g. dask_jobqueue.SLURMCluster")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ClusterError(
            f"{CLASS_SETTING} {class_path!r} cannot be imported ({exc}); install the "
            "library that provides it, or fix the path") from None
    cls = getattr(module, name, None)
    if cls is None:
        raise ClusterError(f"{CLASS_SETTING} {class_path!r}: module {module_name!r} has no "
                           f"{name!r}; fix the path")
    if not callable(cls):
        raise ClusterError(f"{CLASS_SETTING} {class_path!r} is not a class")
    return cls


def start_cluster(spec: ClusterSpec) -> Any:
    """Construct and size the cluster ``spec`` names; the caller closes it."""
    cls = load_cluster_class(spec.class_path)
    try:
        cluster = cls(**spec.kwargs)
    except Exception as exc:  # whatever the library raises; most often a wrong argument
        raise ClusterError(f"{spec.class_path}(**{KWARGS_SETTING}) failed to start a cluster "
                           f"({type(exc).__name__}: {exc}); check {KWARGS_SETTING}") from None
    missing = [m for m in ("scale", "adapt", "close", "scheduler_address")
               if not hasattr(cluster, m)]
    if missing:
        _close_if_possible(cluster)
        raise ClusterError(f"{CLASS_SETTING} {spec.class_path!r} is not a Dask cluster class "
                           f"(its instances have no {', '.join(missing)})")
    try:
        if spec.workers is not None:
            cluster.scale(spec.workers)
        elif spec.minimum is not None or spec.maximum is not None:
            maximum = spec.maximum if spec.maximum is not None else float("inf")
            cluster.adapt(minimum=spec.minimum or 0, maximum=maximum)
    except BaseException:
        cluster.close()
        raise
    return cluster


def _close_if_possible(cluster: Any) -> None:
    close = getattr(cluster, "close", None)
    if callable(close):
        close()
