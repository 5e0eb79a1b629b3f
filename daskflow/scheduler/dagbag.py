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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from daskflow.exceptions import DagDefinitionError, DagImportError, DagNotFound
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
            module = _import(path)
        except Exception:  # any error in user code becomes this file's import error
            self.import_errors[str(path)] = traceback.format_exc()
            return []
        found = [v for v in vars(module).values() if isinstance(v, DAG)]
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


def _import(path: Path) -> Any:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"daskflow_dag_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DagImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except DagDefinitionError as exc:
        sys.modules.pop(name, None)
        raise DagDefinitionError(f"{path}: {exc}") from None
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.path.remove(str(path.parent))
    cloudpickle.register_pickle_by_value(module)
    return module
