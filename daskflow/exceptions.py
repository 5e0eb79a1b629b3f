"""Error types of daskflow.

Every error a user can cause has its own type and a message that names the
file, DAG, task or option at fault and says how to fix it. The Airflow names
(``AirflowSkipException``, ...) are aliases so that DAG files written for
Airflow keep working after changing only their imports.
"""

from __future__ import annotations

from typing import Any


class DaskflowError(Exception):
    """Base of every error daskflow raises on purpose."""


class DagDefinitionError(DaskflowError):
    """A DAG or task is defined wrongly (cycle, duplicate id, bad argument)."""


class DagImportError(DaskflowError):
    """A DAG file could not be imported."""


class DagVersionError(DaskflowError):
    """A stored DAG version cannot be run (missing, not signed, or it fails to import)."""


class DagNotFound(DaskflowError):
    """No DAG with the requested id exists in the DAG folder."""


class TaskNotFound(DaskflowError):
    """No task with the requested id exists in the DAG."""


class TaskTimeout(DaskflowError):
    """A task ran longer than its ``execution_timeout``."""


class ClusterError(DaskflowError):
    """The Dask cluster could not be reached or started."""


class TaskSkipped(DaskflowError):
    """Raised inside a task to end it in the ``skipped`` state."""


class TaskFailedNoRetry(DaskflowError):
    """Raised inside a task to fail it at once, whatever retries are left."""


class TemplateError(DaskflowError):
    """A templated field could not be rendered."""


# Airflow's names, so that existing DAG files only change their imports.
AirflowException = DaskflowError
AirflowSkipException = TaskSkipped
AirflowFailException = TaskFailedNoRetry
AirflowTaskTimeout = TaskTimeout


class SensorTimeout(TaskFailedNoRetry):
    """A sensor waited longer than its ``timeout``: it fails, and no retry follows."""


class TaskReschedule(DaskflowError):
    """Raised by a sensor in ``reschedule`` mode: poke again at ``at`` (epoch seconds).

    The attempt ends ``up_for_reschedule`` without holding a worker thread
    while it waits; the same try runs again when the loop's timer fires.
    """

    def __init__(self, at: float, first_poke: float, pokes: int) -> None:
        super().__init__(f"poke again at {at:.3f}")
        self.at = at
        self.first_poke = first_poke
        self.pokes = pokes

    def __reduce__(self) -> tuple:
        return (TaskReschedule, (self.at, self.first_poke, self.pokes))


AirflowSensorTimeout = SensorTimeout


class TaskDeferred(DaskflowError):
    """Raised by :meth:`BaseOperator.defer`: the task waits on ``trigger``, holding nothing.

    The loop runs the trigger; when it fires, the same try resumes on a
    worker by calling ``method_name(context, event=payload, **kwargs)``.
    ``timeout`` (seconds or a timedelta) bounds the wait.
    """

    def __init__(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
                 timeout: Any = None) -> None:
        super().__init__(f"deferred to {type(trigger).__name__}, resuming in {method_name}()")
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = dict(kwargs or {})
        self.timeout = timeout


class TaskDeferralError(DaskflowError):
    """A deferred task's trigger failed; the task fails (its retries apply)."""


class TaskDeferralTimeout(DaskflowError):
    """A deferred task's trigger did not fire within the ``timeout`` given to ``defer``."""


class ConnectionNotFound(DaskflowError):
    """No connection with the requested id is defined anywhere daskflow looks."""


class InvalidConnection(DaskflowError):
    """A connection's URI or JSON cannot be read (the message names the conn_id)."""


class VariableNotFound(DaskflowError, KeyError):
    """No variable with the requested key is defined (a ``KeyError``, as in Airflow)."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


class RunFailedError(DaskflowError):
    """A run's results were asked for (``handle.result()``) and the run failed.

    The message names the DAG, the run and each failed task with its error.
    """


class XComNotAvailable(DaskflowError):
    """A task's return value cannot be given: the task has not finished, did not
    succeed, or its value was not kept (``daskflow.results-url``) or was purged."""


AirflowNotFoundException = ConnectionNotFound
