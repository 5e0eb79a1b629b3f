"""Loading DAG files: each file in isolation, every error kept with its file.

:meth:`DagBag.load` lists the folder's DAG files (``ignore.py``) and has them
imported in child processes (``dag_processor.py``): a file that raises,
exits, crashes, hangs or eats memory becomes an import error of that file,
and the other files load as usual. The functions below the class are what a
child runs: a file is imported under a private module name, which leaves
``sys.modules`` once executed, so its functions and classes are pickled by
value (cloudpickle) and Dask workers need neither the DAG folder nor the
module. Like Airflow, only files that mention both ``daskflow``/``airflow``
and ``dag`` are imported (``safe_mode``), so helper modules are not executed.

One DAG id defined in two files is an error of both files, and the DAG is
loaded from neither (``duplicates.py``): which file would win is not
something to leave to the order of a directory listing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daskflow.exceptions import DagDefinitionError, DagImportError, DagNotFound, DagVersionError
from daskflow.models import _authoring_stack
from daskflow.models.dag import DAG
from daskflow.scheduler import import_errors, versions
from daskflow.scheduler.dag_processor import FileParse, ParseLimits, build_version, parse_files
from daskflow.scheduler.duplicates import compose
from daskflow.scheduler.ignore import dag_files


@dataclass
class DagBag:
    """The DAGs of a folder (or one file), and the files that failed."""

    folder: Path
    dags: dict[str, DAG] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    files: dict[str, FileParse] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, folder: str | Path, safe_mode: bool = True,
             limits: ParseLimits | None = None) -> DagBag:
        """Parse every DAG file of ``folder`` in parse processes (``daskflow.parse-*``)."""
        bag = cls(Path(folder).expanduser().resolve())
        if not bag.folder.exists():
            raise DagImportError(f"DAG folder {str(bag.folder)!r} does not exist")
        parsed = parse_files(dag_files(bag.folder), limits or ParseLimits.from_config(),
                             root=bag.folder, safe_mode=safe_mode)
        bag.add(parsed.values())
        return bag

    def load_file(self, path: Path, safe_mode: bool = True) -> list[DAG]:
        """Import one file in this process (what a parse process does); its DAGs."""
        parsed = parse_in_process(path, safe_mode)
        self.add([parsed])
        return parsed.dags

    def add(self, parsed: Iterable[FileParse]) -> None:
        """Take in parsed files, then apply the one-file-per-DAG-id rule to all of them."""
        for result in parsed:
            self.files[result.path] = result
        found = compose(self.files)
        self.dags, self.import_errors = found.dags, found.errors
        self.sources = {dag_id: self.files[path].source for dag_id, path in found.owner.items()}

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


# -- what a parse process runs -----------------------------------------------------------
def parse_in_process(path: Path, safe_mode: bool = True, memory_limit: int | None = None
                     ) -> FileParse:
    """Import ``path`` here; its DAGs, its source, or its import error."""
    try:
        source = path.read_text(errors="replace")
    except OSError as exc:
        return FileParse(str(path), error=f"DagImportError: cannot read {path}: {exc}\n")
    if safe_mode and not mentions_a_dag(source):
        return FileParse(str(path), source=source)
    try:
        module, created = _import(path)
    except (Exception, SystemExit) as exc:  # any error in user code is this file's error
        return FileParse(str(path), source=source,
                         error=import_errors.from_exception(path, exc, memory_limit))
    # As in Airflow 2.4+, a DAG used as a context manager (or built by a @dag
    # function) is found even when no module-level name holds it.
    found = list({id(d): d for d in [*vars(module).values(), *created]
                  if isinstance(d, DAG)}.values())
    try:
        _check(found)
    except DagDefinitionError as exc:
        return FileParse(str(path), source=source, error=import_errors.invalid(path, str(exc)))
    for dag in found:
        dag.fileloc = str(path)
    return FileParse(str(path), dags=found, source=source)


def mentions_a_dag(source: str) -> bool:
    """Safe mode: only files mentioning ``dag`` and ``daskflow`` or ``airflow`` are imported."""
    lowered = source.lower()
    return "dag" in lowered and ("daskflow" in lowered or "airflow" in lowered)


def _check(dags: list[DAG]) -> None:
    seen: set[str] = set()
    for dag in dags:
        dag.validate()
        if dag.dag_id in seen:
            raise DagDefinitionError(f"DAG id {dag.dag_id!r} is defined twice in this file")
        seen.add(dag.dag_id)


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


def build_in_process(source: str, dag_id: str, fileloc: str,
                     memory_limit: int | None = None) -> FileParse:
    """Build DAG ``dag_id`` from a stored version of its file's source, here."""
    name = f"daskflow_version_{hashlib.sha1(source.encode()).hexdigest()[:12]}"
    module = types.ModuleType(name)
    module.__file__ = fileloc
    sys.modules[name] = module
    try:
        with _authoring_stack.recording_dags() as created:
            exec(compile(source, fileloc, "exec"), module.__dict__)
    except (Exception, SystemExit) as exc:  # any error in user code is this version's error
        return FileParse(fileloc, source=source,
                         error=import_errors.from_exception(fileloc, exc, memory_limit))
    finally:
        sys.modules.pop(name, None)
    for dag in [*vars(module).values(), *created]:
        if isinstance(dag, DAG) and dag.dag_id == dag_id:
            dag.fileloc = fileloc
            return FileParse(fileloc, dags=[dag], source=source)
    return FileParse(fileloc, source=source)


# -- stored versions -----------------------------------------------------------------------
#: Versions built lately: a file edited under many running runs is built once, not per run.
_BUILT: dict[tuple[str, str, str], DAG] = {}
_BUILT_KEPT = 16


def load_dag_version(store: Any, version_id: str, dag_id: str,
                     limits: ParseLimits | None = None) -> DAG:
    """The DAG as stored under ``version_id``, built in a parse process.

    Stored source runs only when its signature verifies with this
    deployment's secret key (``versions.py``): write access to the database
    alone must not be a way to run code on the scheduler's host.
    :class:`DagVersionError` says why a version cannot be used.
    """
    where = f"version {version_id!r} of DAG {dag_id!r}"
    version = store.get_dag_version(version_id)
    if version is None or version.dag_id != dag_id:
        raise DagVersionError(f"{where} is not in the metadata store")
    if not version.signature:
        raise DagVersionError(
            f"{where} is not signed, so its stored source is not run (versions stored before "
            "daskflow signed them, or written by something else); start a new run")
    if not versions.verify(version.version_id, version.dag_id, version.fileloc,
                           version.source, version.signature):
        raise DagVersionError(
            f"{where} has a signature this scheduler's secret key does not verify: set the "
            "same daskflow.secret-key (or DASKFLOW_SECRET_KEY) on every scheduler and every "
            "host running daskflow commands; a version nobody signed with that key is "
            "never run")
    key = (version_id, dag_id, hashlib.sha256(version.source.encode()).hexdigest())
    if key in _BUILT:
        return _BUILT[key]
    built = build_version(version.source, version.fileloc, dag_id,
                          limits or ParseLimits.from_config())
    if built.error is not None:
        raise DagVersionError(f"{where} failed to import from its stored source: "
                              f"{import_errors.last_line(built.error)}")
    if not built.dags:
        raise DagVersionError(f"{where}: its stored source ({version.fileloc}) does not "
                              f"define DAG {dag_id!r}")
    if len(_BUILT) >= _BUILT_KEPT:
        _BUILT.pop(next(iter(_BUILT)))
    _BUILT[key] = built.dags[0]
    return built.dags[0]


# -- DAGs the store knows ------------------------------------------------------------------
def load_recorded_dag(store: Any, dag_id: str, limits: ParseLimits | None = None) -> DAG:
    """DAG ``dag_id`` as the store knows it: from the file a loop recorded for it.

    For commands run away from the DAG folder (another terminal, another
    host) with only the store: the recorded file is parsed in a parse
    process, like any DAG file. Where that file is not readable (the loop
    runs on another host), the DAG's latest stored version is built instead,
    which must be signed (see :func:`load_dag_version`). Raises
    :class:`DagNotFound` if the store does not know the DAG, and
    :class:`DagImportError` if its file no longer defines it.
    """
    record = store.get_dag(dag_id)
    if record is None or not record.fileloc:
        known = ", ".join(d.dag_id for d in store.list_dags() if d.is_active) or "none"
        raise DagNotFound(f"DAG {dag_id!r} is not in the metadata store (DAGs it knows: "
                          f"{known}); a running `daskflow scheduler` records the DAGs of its "
                          "folder, or pass --dags-folder")
    if not record.is_active:
        raise DagNotFound(f"DAG {dag_id!r} is no longer in its scheduler's DAG folder (it was "
                          f"last defined in {record.fileloc})")
    path = Path(record.fileloc)
    if not path.is_file():
        stored = store.list_dag_versions(dag_id)
        if not stored:
            raise DagImportError(f"DAG {dag_id!r}: its file {path} is not on this host and "
                                 "the store holds no version of it; pass --dags-folder")
        return load_dag_version(store, stored[0].version_id, dag_id, limits)
    parsed = parse_files([path], limits or ParseLimits.from_config(), root=path.parent)
    result = parsed[str(path)]
    if result.error is not None:
        raise DagImportError(f"DAG {dag_id!r}: its file {path} failed to import: "
                             f"{import_errors.last_line(result.error)} (fix the file)")
    for dag in result.dags:
        if dag.dag_id == dag_id:
            return dag
    raise DagImportError(f"DAG {dag_id!r}: its file {path} no longer defines it (fix the "
                         "file, or pass --dags-folder)")
