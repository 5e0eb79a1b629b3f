"""Loading DAG files: each file in isolation, every error kept with its file.

A file is imported under a private module name and registered with
cloudpickle to be pickled by value, so Dask workers run its functions
without having the DAG folder on their path. A file that fails to import
becomes an import error (file + traceback); the other files load as usual.
Like Airflow, only files that mention both ``daskflow``/``airflow`` and
``dag`` are imported (``safe_mode``), so helper modules are not executed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daskflow.exceptions import DagDefinitionError, DagImportError, DagNotFound
from daskflow.models import _authoring_stack
from daskflow.models.dag import DAG


@dataclass
class DagBag:
    """The DAGs of a folder (or one file), and the files that failed."""

    folder: Path
    dags: dict[str, DAG] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path, safe_mode: bool = True) -> DagBag:
        bag = cls(Path(folder).expanduser().resolve())
        if not bag.folder.exists():
            raise DagImportError(f"DAG folder {str(bag.folder)!r} does not exist")
        files = [bag.folder] if bag.folder.is_file() else sorted(bag.folder.rglob("*.py"))
        for path in files:
            if path.name.startswith(("_", ".")) and path != bag.folder:
                continue
            bag.load_file(path, safe_mode=safe_mode)
        return bag

    def load_file(self, path: Path, safe_mode: bool = True) -> list[DAG]:
        source = path.read_text(errors="replace")
        lowered = source.lower()
        if safe_mode and not ("dag" in lowered and ("daskflow" in lowered or "airflow" in lowered)):
            return []
        try:
            module, created = _import(path)
        except Exception:  # any error in user code becomes this file's import error
            self.import_errors[str(path)] = traceback.format_exc()
            return []
        # As in Airflow 2.4+, a DAG used as a context manager (or built by a @dag
        # function) is found even when no module-level name holds it.
        found = list({id(d): d for d in [*vars(module).values(), *created]
                      if isinstance(d, DAG)}.values())
        try:
            for dag in found:
                dag.validate()
        except DagDefinitionError as exc:
            self.import_errors[str(path)] = f"DagDefinitionError: {path}: {exc}\n"
            return []
        for dag in found:
            if dag.dag_id in self.dags and self.dags[dag.dag_id].fileloc != dag.fileloc:
                self.import_errors[str(path)] = (
                    f"DagDefinitionError: DAG id {dag.dag_id!r} is defined in both "
                    f"{self.dags[dag.dag_id].fileloc} and {path}\n")
                continue
            dag.fileloc = str(path)
            self.dags[dag.dag_id] = dag
            self.sources[dag.dag_id] = source
        return found

    def get_dag(self, dag_id: str) -> DAG:
        if dag_id in self.dags:
            return self.dags[dag_id]
        hint = ""
        if self.import_errors:
            hint = "; these files failed to import: " + ", ".join(sorted(self.import_errors))
        known = ", ".join(sorted(self.dags)) or "none"
        raise DagNotFound(
            f"no DAG {dag_id!r} in {self.folder} (DAGs found: {known}){hint}"
        )


def _import(path: Path) -> tuple[Any, list[DAG]]:
    """Execute a DAG file as a private module; return it and the DAGs it opened.

    The module leaves ``sys.modules`` once executed: Dask serializes with plain
    pickle first, which would pickle the file's functions and classes by a
    module name no worker can import. Outside ``sys.modules`` they go by value
    (cloudpickle), so workers need neither the DAG folder nor the module.
    """
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"daskflow_dag_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DagImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        with _authoring_stack.recording_dags() as created:
            spec.loader.exec_module(module)
    except DagDefinitionError as exc:
        raise DagDefinitionError(f"{path}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
        sys.modules.pop(name, None)
    return module, created


def load_dag_source(source: str, dag_id: str, fileloc: str) -> DAG | None:
    """Build DAG ``dag_id`` from a stored version of its file's source."""
    name = f"daskflow_version_{hashlib.sha1(source.encode()).hexdigest()[:12]}"
    module = types.ModuleType(name)
    module.__file__ = fileloc
    sys.modules[name] = module
    try:
        with _authoring_stack.recording_dags() as created:
            exec(compile(source, fileloc, "exec"), module.__dict__)
    finally:
        sys.modules.pop(name, None)
    for dag in [*vars(module).values(), *created]:
        if isinstance(dag, DAG) and dag.dag_id == dag_id:
            dag.fileloc = fileloc
            return dag
    return None


def load_dag_version(store: Any, version_id: str, dag_id: str) -> DAG | None:
    """The DAG as stored under ``version_id`` (None if the version or DAG is gone)."""
    version = store.get_dag_version(version_id)
    if version is None or not version.source:
        return None
    try:
        return load_dag_source(version.source, dag_id, version.fileloc)
    except Exception:  # an old version that no longer imports: the caller falls back
        return None
