"""The DAG folder as the loop sees it: parsed at start, re-parsed as files change.

The loop calls :meth:`DagFolder.refresh` every ``parse-interval`` seconds and
must never wait on a DAG file: a file taking 15 s to import would delay every
other DAG's runs by as much. So a refresh only looks at the folder (which
files are new, changed by modification time or size, or gone) and starts a
*batch*: a thread of this process that has the new and changed files
imported in child processes (``dag_processor.py``, where a file that exits,
crashes, hangs or eats memory becomes an import error). The refresh returns
at once; later refreshes take each file's result as soon as it is there and
apply it in the caller's thread: the DAGs (``folder.dags``), their versions
saved, DAG rows synced, DAGs that left marked inactive (history kept),
import errors recorded. One batch runs at a time; files that change
meanwhile go in the next one, at most ``parse-timeout`` later.

The first refresh waits for its batch: a starting loop has nothing to drive
until it knows its DAGs, and ``daskflow scheduler`` reports import errors at
start. ``refresh(wait=True)`` waits at any time (tests, the CLI).

A DAG id defined in two files is an import error of both (``duplicates.py``);
which DAGs load is recomputed from every file's last parse, so removing one
of the files brings the DAG back from the other without parsing it again.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daskflow.scheduler import events
from daskflow.scheduler.dag_processor import FileParse, ParseLimits, parse_files
from daskflow.scheduler.dag_sync import dag_record, save_version
from daskflow.scheduler.duplicates import compose
from daskflow.scheduler.ignore import dag_files

logger = logging.getLogger("daskflow.scheduler")


@dataclass
class FileState:
    """A file as last parsed, and the (mtime, size) it had when that parse began."""

    signature: tuple[float, int]
    parsed: FileParse


@dataclass
class FolderChanges:
    """What one refresh applied; ``changed`` lists DAG ids (re)loaded, ``errors`` the
    import errors that are new or different."""

    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class DagFolder:
    """The DAGs of one folder, kept current with the files and synced to the store."""

    def __init__(self, folder: str | Path, store: Any, parse_timeout: float | None = None, *,
                 limits: ParseLimits | None = None) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.store = store
        self.limits = limits or ParseLimits.from_config(timeout=parse_timeout)
        self.dags: dict[str, Any] = {}
        self.versions: dict[str, str] = {}
        self.files: dict[str, FileState] = {}
        self.errors: dict[str, str] = {}
        self._batch: _Batch | None = None
        self._closing = threading.Event()
        self._started = False
        self._synced_errors: dict[str, str] | None = None

    @property
    def parse_timeout(self) -> float:
        return self.limits.timeout

    @property
    def parsing(self) -> bool:
        """Whether a batch is being parsed right now."""
        return self._batch is not None and not self._batch.done()

    def refresh(self, wait: bool | None = None) -> FolderChanges:
        """Apply a finished batch, start the next one if files changed; never waits, except
        on the first call and when ``wait`` is true."""
        wait = not self._started if wait is None else wait
        self._started = True
        changes = FolderChanges()
        previous_dags, previous_errors = self.dags, self.errors
        self._take_finished()
        if self._batch is None:
            self._start_batch()
        rounds = 2 if wait else 0  # one more round for files changed while waiting
        while rounds and self._batch is not None:
            self._batch.join()
            self._take_finished()
            rounds -= 1
            if rounds:
                self._start_batch()
        self._apply(previous_dags, previous_errors, changes)
        return changes

    def close(self) -> None:
        """Stop parsing: kill the parse processes of a running batch, wait for its thread."""
        self._closing.set()
        if self._batch is not None:
            self._batch.join()
            self._batch = None

    # -- batches ------------------------------------------------------------------------
    def _start_batch(self) -> None:
        present = self._scan()
        for path in set(self.files) - set(present):
            del self.files[path]
        due = {path: signature for path, signature in present.items()
               if path not in self.files or self.files[path].signature != signature}
        if due and not self._closing.is_set():
            self._batch = _Batch(due, self.limits, self.folder, self._closing)

    def _take_finished(self) -> None:
        """Take every file the running batch has finished; forget the batch once it ended."""
        batch = self._batch
        if batch is None:
            return
        ended = batch.done()  # asked first: a file finished after this is taken next time
        for parsed in batch.take():
            self.files[parsed.path] = FileState(batch.signatures[parsed.path], parsed)
        if not ended:
            return
        self._batch = None
        if batch.failure is not None:
            logger.error("parsing DAG files of %s failed; the files not parsed are parsed "
                         "again at the next refresh", self.folder, exc_info=batch.failure)

    def _scan(self) -> dict[str, tuple[float, int]]:
        found = {}
        for path in dag_files(self.folder):
            try:
                stat = path.stat()
            except OSError:
                continue
            found[str(path)] = (stat.st_mtime, stat.st_size)
        return found

    # -- applying -----------------------------------------------------------------------
    def _apply(self, previous_dags: dict[str, Any], previous_errors: dict[str, str],
               changes: FolderChanges) -> None:
        found = compose({path: state.parsed for path, state in self.files.items()})
        self.dags, self.errors = found.dags, found.errors
        for dag_id, dag in self.dags.items():
            if previous_dags.get(dag_id) is not dag:
                changes.changed.append(dag_id)
                source = self.files[found.owner[dag_id]].parsed.source
                self.versions[dag_id] = save_version(self.store, dag, source)
        for dag_id in previous_dags:
            if dag_id not in self.dags:
                changes.removed.append(dag_id)
                self.versions.pop(dag_id, None)
        changes.errors = {path: error for path, error in self.errors.items()
                          if previous_errors.get(path) != error}
        for path in sorted(changes.errors):
            events.import_failed(path, changes.errors[path])
        for path in sorted(set(previous_errors) - set(self.errors)):
            events.import_fixed(path)
        if changes.changed or changes.removed or self.errors != self._synced_errors:
            self._sync(changes)

    def _sync(self, changes: FolderChanges) -> None:
        self.store.sync_dags([dag_record(self.dags[d]) for d in changes.changed])
        self.store.mark_inactive(set(self.dags), fileloc=None)
        self.store.set_import_errors(self.errors, clear_others_under=str(self.folder))
        self._synced_errors = dict(self.errors)


class _Batch:
    """One background parse of some files: a thread driving the parse processes.

    Each file's result is handed over as soon as it is there, so a slow file
    delays nothing but itself.
    """

    def __init__(self, signatures: dict[str, tuple[float, int]], limits: ParseLimits,
                 root: Path, cancel: threading.Event) -> None:
        self.signatures = signatures
        self.failure: BaseException | None = None
        self._finished: queue.SimpleQueue[FileParse] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, args=(limits, root, cancel),
                                        name="daskflow-dag-folder", daemon=True)
        self._thread.start()

    def _run(self, limits: ParseLimits, root: Path, cancel: threading.Event) -> None:
        try:
            parse_files(sorted(self.signatures), limits, root=root, cancel=cancel,
                        on_result=self._finished.put)
        except Exception as exc:  # reported by the refresh that finds it, in the loop's thread
            self.failure = exc

    def take(self) -> list[FileParse]:
        """The results finished since the last call."""
        taken = []
        while not self._finished.empty():
            taken.append(self._finished.get())
        return taken

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join()
