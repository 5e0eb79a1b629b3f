"""Signing stored DAG versions, so that the database alone cannot make a scheduler run code.

Every run records the DAG version it was created from (``dag_sync.py``), and
when the file has changed since, the loop rebuilds the run's DAG from the
source stored with that version. Executing stored source means that anyone
able to write the ``dag_version`` table could run code on the scheduler's
host. So each version is signed when it is stored, with an HMAC-SHA256 of
its id, DAG id, file and source under the deployment's secret key, and its
source is run only when the signature verifies (``dagbag.load_dag_version``).

The key never goes into the database. It is, in order:

1. the ``DASKFLOW_SECRET_KEY`` environment variable;
2. the ``daskflow.secret-key`` setting;
3. the file ``$DASKFLOW_HOME/secret.key``, created with a random key (mode
   0600) the first time it is needed.

Every scheduler and every host running ``daskflow`` commands against one
store needs the same key: a version signed with another key is refused.

    >>> key = b"k"
    >>> signature = sign("v1", "etl", "/dags/etl.py", "source", key)
    >>> verify("v1", "etl", "/dags/etl.py", "source", signature, key)
    True
    >>> verify("v1", "etl", "/dags/etl.py", "changed source", signature, key)
    False
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from daskflow import config
from daskflow.exceptions import DaskflowError

KEY_FILE = "secret.key"
ENV_VAR = "DASKFLOW_SECRET_KEY"
#: Written into every signed message, so a signature can never stand for anything else.
_PURPOSE = "daskflow dag version v1"


def secret_key() -> bytes:
    """This deployment's key (see the module docstring for where it comes from)."""
    value = os.environ.get(ENV_VAR) or config.get("secret-key")
    if value:
        return str(value).encode()
    return key_from_file(config.home() / KEY_FILE)


def key_from_file(path: Path) -> bytes:
    """The key kept in ``path``; a new random one written there (mode 0600) if none is.

    Created under a temporary name and linked into place, so two processes
    starting at once end up with the same key and never read a half-written one.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        temporary.unlink()
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text().strip().encode()
    if not key:
        raise DaskflowError(f"the secret key file {path} is empty; delete it to have a new "
                            f"key made, or set {ENV_VAR} (the same on every scheduler)")
    return key


def sign(version_id: str, dag_id: str, fileloc: str, source: str,
         key: bytes | None = None) -> str:
    """The hex HMAC-SHA256 of one version under ``key`` (default: :func:`secret_key`)."""
    message = json.dumps([_PURPOSE, version_id, dag_id, fileloc, source]).encode()
    return hmac.new(secret_key() if key is None else key, message, hashlib.sha256).hexdigest()


def verify(version_id: str, dag_id: str, fileloc: str, source: str, signature: str | None,
           key: bytes | None = None) -> bool:
    """Whether ``signature`` is this version's under ``key`` (default: :func:`secret_key`)."""
    if not signature:
        return False
    return hmac.compare_digest(sign(version_id, dag_id, fileloc, source, key), signature)
