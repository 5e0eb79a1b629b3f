"""Errors raised by the metadata store.

Every failure of the database reaches callers as a :class:`StoreError` that
names the store's URL (password masked) and the cause, so a scheduler log line
says which database was wrong and why. Callers never need to catch SQLAlchemy
or driver exceptions.
"""

from __future__ import annotations

from daskflow.exceptions import DaskflowError


class StoreError(DaskflowError):
    """The metadata store could not do what was asked (bad URL, unreachable, ...)."""


class ConstraintError(StoreError):
    """A write broke a rule of the schema, e.g. a task instance of an unknown run."""


class RunExistsError(ConstraintError):
    """A DAG run with the same ``(dag_id, run_id)`` or ``(dag_id, logical_date)`` exists.

    Raised by ``Store.create_dag_run``; the unique constraints of ``dag_run`` decide,
    so two schedulers racing for the same logical date get exactly one run.
    """


class NotFoundError(StoreError, LookupError):
    """A write named a DAG, run or pool that is not in the store."""


class StoreUnavailable(StoreError):
    """The database could not be reached or was busy: worth trying again later.

    A locked SQLite file, a PostgreSQL connection terminated by the server or
    an administrator, a server restart or failover, a serialization failure.
    ``Store`` methods retry these with backoff for ``daskflow.store-retry-for``
    seconds before raising (``retrying.py``).
    """


class RunLostError(StoreError):
    """A loop wrote for a run it no longer owns (another loop adopted it, a user cleared it).

    The write was not made. The loop must stop driving the run (``fencing.py``).
    """


class FernetKeyError(DaskflowError):
    """The Fernet key is not valid, missing, or not the one a stored value was written with.

    Not a :class:`StoreError`: the database is fine, the key setting is what to fix.
    """
