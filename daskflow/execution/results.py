"""The result store: outcomes kept outside Dask so a restarted loop can go on.

Task values live in Dask memory while a run executes (docs/concepts.md).
A node also writes its outcome, pickled, to an fsspec location
(``daskflow.results-url``, default ``$DASKFLOW_HOME/results``; on a remote
cluster use a path every worker and the loop can reach, e.g. ``s3://...``).
Two things use it:

- a loop that restarts, or re-runs cleared tasks, builds a graph node that
  loads each finished upstream outcome instead of running that task again;
- a node that Dask recomputes after a worker died (its result was lost with
  the worker) returns the stored outcome instead of running the user's code a
  second time: the loop marks recorded successes in the key's annotations.

An outcome with nothing to keep (no value, no XComs, no branch decision) is
not written; its reference is the word ``trivial``.

Kept outcomes are deleted once their run finished longer than
``daskflow.results-retention`` ago (``scheduler/retention.py``); clearing a
task of such a run re-runs the upstream tasks whose values it needs.
"""

from __future__ import annotations

from urllib.parse import quote

import cloudpickle

from daskflow.execution.outcome import Outcome
from daskflow.models.state import TaskInstanceState

TRIVIAL = "trivial"


def outcome_path(results_url: str, dag_id: str, run_id: str, task_id: str, map_index: int
                 ) -> str:
    """Where the outcome of one task instance is kept."""
    return f"{run_folder(results_url, dag_id, run_id)}/{quote(task_id, safe='')}/{map_index}.pkl"


def is_trivial(outcome: Outcome) -> bool:
    return (outcome.value is None and not outcome.xcoms and outcome.followed is None
            and not outcome.skip_descendants and not outcome.skip_direct)


class UnpicklableResult(Exception):
    """A task returned (or pushed) a value that cannot be pickled.

    Dask pickles a value to hand it to a task on another worker; without this
    check such a run would hang when the next task lands elsewhere.
    """


def pickled(outcome: Outcome) -> bytes:
    """``outcome`` pickled, or :class:`UnpicklableResult` naming the value's type."""
    try:
        return cloudpickle.dumps(outcome)
    except Exception as exc:  # whatever pickling raises, the value cannot travel
        value = outcome.value if outcome.value is not None else outcome.xcoms
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        raise UnpicklableResult(
            f"task {outcome.task_id!r} returned a value that cannot be pickled ({kind}): "
            f"{type(exc).__name__}: {exc}; Dask pickles return values to pass them to "
            "other tasks, so return something picklable (or set do_xcom_push=False)"
        ) from None


def save_outcome(results_url: str, dag_id: str, run_id: str, outcome: Outcome,
                 data: bytes | None = None) -> str:
    """Write ``outcome`` (pickled as ``data`` if given) and return its reference."""
    if is_trivial(outcome):
        return TRIVIAL
    import fsspec

    data = pickled(outcome) if data is None else data
    path = outcome_path(results_url, dag_id, run_id, outcome.task_id, outcome.map_index)
    fs, local = fsspec.core.url_to_fs(path)
    fs.makedirs(local.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(local, "wb") as f:
        f.write(data)
    return path


def load_outcome(ref: str, task_id: str, map_index: int, state: str = "success") -> Outcome:
    """The outcome behind ``ref``; a trivial one is rebuilt from its state."""
    if ref == TRIVIAL:
        return Outcome(task_id=task_id, map_index=map_index, state=TaskInstanceState(state))
    import fsspec

    with fsspec.open(ref, "rb") as f:
        return cloudpickle.loads(f.read())


def outcome_exists(ref: str | None) -> bool:
    if ref is None:
        return False
    if ref == TRIVIAL:
        return True
    import fsspec

    fs, local = fsspec.core.url_to_fs(ref)
    return fs.exists(local)



def run_folder(results_url: str, dag_id: str, run_id: str) -> str:
    """The folder holding every kept outcome of one run."""
    parts = [quote(p, safe="") for p in (dag_id, run_id)]
    return f"{results_url.rstrip('/')}/{'/'.join(parts)}"


def delete_run_outcomes(results_url: str, dag_id: str, run_id: str) -> bool:
    """Delete a run's kept outcomes; whether there was anything to delete."""
    import fsspec

    fs, local = fsspec.core.url_to_fs(run_folder(results_url, dag_id, run_id))
    if not fs.exists(local):
        return False
    fs.rm(local, recursive=True)
    return True
