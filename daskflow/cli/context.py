"""The per-invocation context: the DAG folder and the metadata store, opened lazily once.

Like flask's ``ScriptInfo``, a :class:`CliContext` is created by the root
group and handed to every command. Options name *where* things are
(``--dags-folder``, ``--db``); nothing is loaded until a command asks for
it, and then only once, so ``daskflow version`` never parses DAG files and
``daskflow dags list`` opens the store only to read who is paused.

Output written by DAG files while they are imported goes to stderr (the
parse processes' output is copied there): stdout belongs to the command's
table or JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from daskflow.cli.errors import last_line
from daskflow.exceptions import DagImportError, DagNotFound
from daskflow.models.dag import DAG

if TYPE_CHECKING:  # imported where used: they pull in Dask and SQLAlchemy
    from daskflow.scheduler.dagbag import DagBag
    from daskflow.store import Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliContext:
    """Where the DAGs and the store are, and each of them once it has been opened."""

    dags_folder: Path | None = None
    db_url: str | None = None
    _bag: DagBag | None = field(default=None, repr=False)
    _stores: dict[bool, Store] = field(default_factory=dict, repr=False)
    _initialized: bool = field(default=False, repr=False)

    # -- DAGs ---------------------------------------------------------------------
    def folder(self) -> Path:
        """The DAG folder (``--dags-folder``, else the configured one); it must exist."""
        from daskflow import config

        folder = Path(self.dags_folder or config.dags_folder()).expanduser()
        if not folder.exists():
            raise DagImportError(f"DAG folder {str(folder)!r} does not exist; pass "
                                 "--dags-folder or set DASKFLOW_DAGS_FOLDER")
        return folder

    def dagbag(self) -> DagBag:
        """The parsed DAG folder (``--dags-folder``, else the configured one).

        Files are imported in parse processes, never in this one: a file that
        calls ``sys.exit()`` or crashes is an import error, not this command's end.
        """
        if self._bag is None:
            from daskflow.scheduler.dagbag import DagBag

            self._bag = DagBag.load(self.folder())
        return self._bag

    def get_dag(self, dag_id: str) -> DAG:
        """The DAG ``dag_id``; if it is missing, say which files failed to import."""
        bag = self.dagbag()
        if dag_id in bag.dags or not bag.import_errors:
            return bag.get_dag(dag_id)
        suspects = [path for path in sorted(bag.import_errors) if _mentions(path, dag_id)]
        if len(suspects) == 1:
            raise DagImportError(
                f"DAG {dag_id!r} could not be loaded: its file {suspects[0]} failed to "
                f"import: {last_line(bag.import_errors[suspects[0]])}")
        known = ", ".join(sorted(bag.dags)) or "none"
        broken = "\n".join(f"  {path}: {last_line(trace)}"
                           for path, trace in sorted(bag.import_errors.items()))
        raise DagImportError(
            f"DAG {dag_id!r} not found in {bag.folder} (DAGs found: {known}); "
            f"{len(bag.import_errors)} DAG file(s) failed to import:\n{broken}"
        )

    def known_dag(self, dag_id: str) -> DAG:
        """DAG ``dag_id`` for a command about a DAG that loops run (``dags trigger``, ...).

        With ``--dags-folder`` (or ``DASKFLOW_DAGS_FOLDER``) it comes from that
        folder. Without, it comes from the store: the file a loop recorded for
        it, parsed in a parse process (``dagbag.load_recorded_dag``), so these
        commands work from another terminal with only ``--db``. A DAG the
        store does not know is looked for in the configured DAG folder, if
        there is one here; otherwise the error names the DAG and the store.
        """
        if self.dags_folder is not None:
            return self.get_dag(dag_id)
        store = self.existing_store()
        if store is not None and store.get_dag(dag_id) is not None:
            from daskflow.scheduler.dagbag import load_recorded_dag

            return load_recorded_dag(store, dag_id)
        from daskflow import config
        from daskflow.store.engine import mask_url

        folder = config.dags_folder()
        if folder.exists():
            return self.get_dag(dag_id)
        where = (f"the metadata store {mask_url(self.url)!r} does not know it" if store else
                 f"there is no metadata store at {mask_url(self.url)!r}")
        raise DagNotFound(f"DAG {dag_id!r} not found: {where}, and there is no DAG folder "
                          f"{str(folder)!r} here; pass the --db a running `daskflow "
                          "scheduler` uses (it records the DAGs of its folder), or --dags-folder")

    # -- the store ----------------------------------------------------------------
    @property
    def url(self) -> str:
        from daskflow import config

        return self.db_url or config.db_url()

    def store(self, *, require_schema: bool = True) -> Store:
        """The metadata store; by default one that ``daskflow db init`` has set up.

        Reading commands must not create an empty SQLite file as a side effect
        of a mistyped path, so a missing file is an error, not a new store.
        """
        from daskflow.store import Store, StoreError
        from daskflow.store.engine import mask_url

        if require_schema not in self._stores:
            if require_schema:
                _require_existing_file(self.url)
            store = Store(self.url)
            self._stores[require_schema] = store
            if require_schema and store.current_revision() is None:
                raise StoreError(f"metadata store {mask_url(self.url)!r} has no daskflow "
                                 "tables yet; run `daskflow db init` with the same --db")
        return self._stores[require_schema]

    def writable_store(self) -> Store:
        """The store for a command that records something: created or upgraded if needed.

        Commands that start work (``scheduler``, ``dags trigger``, ``dags
        backfill``, ...) may be the first ones run against a new store, as
        ``dags test`` may; ``init`` is safe to repeat.
        """
        store = self.store(require_schema=False)
        if not self._initialized:
            store.init()
            self._initialized = True
        return store

    def existing_store(self) -> Store | None:
        """The store if it exists and has a schema; ``None`` if nothing was recorded yet."""
        from daskflow.store import StoreError

        try:
            return self.store()
        except StoreError:
            if self._missing():
                return None
            raise

    def _missing(self) -> bool:
        """Whether the store is a SQLite file that does not exist, or has no tables."""
        from daskflow.store import StoreError

        try:
            _require_existing_file(self.url)
        except StoreError:
            return True
        store = self._stores.get(True)
        return store is not None and store.current_revision() is None

    def close(self) -> None:
        """Release the store's connections (registered to run when the command ends)."""
        for store in self._stores.values():
            store.dispose()
        self._stores.clear()


def _mentions(path: str, dag_id: str) -> bool:
    """Whether a file's text contains ``dag_id`` quoted: it probably defines that DAG."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return f'"{dag_id}"' in text or f"'{dag_id}'" in text


def _require_existing_file(url: str) -> None:
    from daskflow.store import StoreError
    from daskflow.store.engine import mask_url, parse_url

    parsed = parse_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if database.startswith("file:") or Path(database).expanduser().exists():
        return
    raise StoreError(f"no metadata store at {mask_url(url)!r} (the file does not exist); "
                     "run `daskflow db init` first, or pass the right --db")


pass_context = click.make_pass_decorator(CliContext, ensure=True)


def _set(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            setattr(ctx.ensure_object(CliContext), name, value)

    return callback


def dags_folder_option(fn: F) -> F:
    """``--dags-folder PATH``: where DAG files are read from."""
    return click.option(
        "--dags-folder", type=click.Path(path_type=Path), expose_value=False,
        callback=_set("dags_folder"), envvar="DASKFLOW_DAGS_FOLDER",
        help="Folder (or one file) of DAG definitions. [default: $DASKFLOW_HOME/dags]",
    )(fn)


def db_option(fn: F) -> F:
    """``--db URL``: the metadata store's SQLAlchemy URL."""
    return click.option(
        "--db", "db_url", metavar="URL", expose_value=False, callback=_set("db_url"),
        envvar="DASKFLOW_DB",
        help="SQLAlchemy URL of the metadata store. [default: sqlite under $DASKFLOW_HOME]",
    )(fn)
