"""A process-wide registry of secret strings, and the function that hides them.

Every place where daskflow turns something into text that a person or a
store will see (an attempt's log as it is captured, an error summary, the
display copies of rendered templates and XComs, notices, CLI output) passes
it through :func:`redact`, which replaces each registered secret by ``***``.

Secrets get registered by :func:`mask_secret` (tasks call it for values they
fetched themselves), and by the code that reads connections and variables
(:func:`register_connection`, :func:`register_variable`). The registry lives
in the process that registered: a secret a task registers on a Dask worker
is hidden in that worker's reports, which is where an attempt's text is made.
Nothing is ever removed: once registered, a value stays hidden for the life
of the process.

This module imports nothing from Dask or SQLAlchemy, so the authoring model
(``daskflow/models``) may use it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

#: What a secret is replaced by.
MASK = "***"
#: Shorter strings are not registered: hiding every ``"1"`` or ``"abc"`` would
#: make logs unreadable without protecting anything worth guessing.
MIN_SECRET_LENGTH = 5
#: Parts of a key or field name that make its value a secret (matched case-insensitively
#: anywhere in the name, so ``db_password`` and ``GITHUB_TOKEN`` count).
DEFAULT_SENSITIVE_NAMES = frozenset({
    "access_token",
    "api_key",
    "apikey",
    "authorization",
    "keyfile_dict",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "secret",
    "service_account",
    "token",
})
#: The setting naming more sensitive names (comma-separated, or a YAML list).
NAMES_SETTING = "sensitive-var-conn-names"

_lock = threading.Lock()
_secrets: set[str] = set()
#: The secrets as registered (not their escaped forms), in order: what travels on.
_registered: list[str] = []
_originals: set[str] = set()
_pattern: re.Pattern[str] | None = None


# -- names ----------------------------------------------------------------------------
def configured_names() -> frozenset[str]:
    """The extra sensitive names of ``daskflow.sensitive-var-conn-names``, lower-cased."""
    try:
        from daskflow import config
    except ImportError:  # pragma: no cover - daskflow's own settings are always there
        return frozenset()
    value = config.get("sensitive-var-conn-names") or ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return frozenset(item.strip().lower() for item in items if item.strip())


def is_sensitive_name(name: Any) -> bool:
    """Whether a value kept under ``name`` (a key, a field, a column) is a secret."""
    if not isinstance(name, str) or not name:
        return False
    lowered = name.lower()
    return any(part in lowered for part in DEFAULT_SENSITIVE_NAMES | configured_names())


# -- registering ----------------------------------------------------------------------
def mask_secret(value: Any, name: str | None = None) -> None:
    """Hide ``value`` from everything daskflow shows from now on, in this process.

    ``value`` may be a string, or a dict/list/tuple/set holding strings: a
    dict's values are registered when their key is a sensitive name (see
    :func:`is_sensitive_name`), a list's items under ``name``. A string given
    with a ``name`` is registered only if that name is sensitive; without a
    name it always is. Strings shorter than :data:`MIN_SECRET_LENGTH`
    characters, and values of other types, are ignored.
    """
    found: list[str] = []
    _collect(value, name, found)
    if found:
        _add(found)


def register_connection(password: str | None = None, extra: Any = None) -> None:
    """Hide what a connection holds secret: its password and its extra.

    The code that reads a connection (from ``DASKFLOW_CONN_<ID>`` or the store)
    calls this. ``extra`` may be the JSON text or the parsed dict: the whole
    text is hidden, and so is each value under a sensitive key of the dict.
    """
    found: list[str] = []
    _collect(password, None, found)
    parsed = extra
    if isinstance(extra, str):
        _collect(extra, None, found)
        try:
            parsed = json.loads(extra)
        except ValueError:
            parsed = None
    if isinstance(parsed, Mapping):
        _collect(parsed, None, found)
        _collect(json.dumps(parsed), None, found)
    if found:
        _add(found)


def register_variable(key: str, value: Any) -> None:
    """Hide a variable's value if its key is sensitive (and sensitive keys inside JSON values).

    The code that reads a variable calls this with the key and the value as
    stored (text) or as deserialized.
    """
    found: list[str] = []
    if is_sensitive_name(key):
        _collect(value, None, found)
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
    if isinstance(parsed, (Mapping, list, tuple)):
        _collect(parsed, key, found)
    if found:
        _add(found)


def _collect(value: Any, name: str | None, found: list[str]) -> None:
    if isinstance(value, str):
        if len(value) >= MIN_SECRET_LENGTH and (name is None or is_sensitive_name(name)):
            found.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str):
                if is_sensitive_name(key) or is_sensitive_name(name):
                    _collect(item, None, found)
            else:
                _collect(item, key if is_sensitive_name(key) else name, found)
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        for item in value:
            _collect(item, name, found)


def _forms(secret: str) -> set[str]:
    """The secret as it may appear in text: as is, JSON/repr-escaped, URL-quoted."""
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1],
             quote(secret, safe=""), quote_plus(secret, safe="")}
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def _add(secrets: Iterable[str]) -> None:
    global _pattern
    with _lock:
        secrets = [s for s in dict.fromkeys(secrets) if s not in _originals]
        if not secrets:
            return
        _originals.update(secrets)
        _registered.extend(secrets)
        new = set().union(*(_forms(s) for s in secrets)) - _secrets
        if not new:
            return
        _secrets.update(new)
        # Longest first, so a secret that contains another is hidden whole.
        ordered = sorted(_secrets, key=lambda s: (-len(s), s))
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


# -- hiding ---------------------------------------------------------------------------
def redact(text: Any) -> Any:
    """``text`` with every registered secret replaced by ``***`` (non-strings as they are)."""
    pattern = _pattern
    if pattern is None or not isinstance(text, str) or not text:
        return text
    return pattern.sub(MASK, text)


def redact_value(value: Any, name: Any = None) -> Any:
    """A copy of ``value`` safe to show: strings redacted, values of sensitive names masked.

    Used for structured output (CLI rows, JSON): a text or number under a
    ``password`` column or key shows ``***`` whatever it is (dicts and lists
    under such a key are walked, not dropped), and every string elsewhere goes
    through :func:`redact`.
    """
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) \
            and value != "" and is_sensitive_name(name):
        # Only a leaf is masked for its name: a task called ``fetch_token`` keeps its entry.
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, name) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v, name) for v in value)
    return value


def mark() -> int:
    """A point in this process's registrations, for :func:`registered_since`."""
    return len(_registered)


def registered_since(point: int) -> tuple[str, ...]:
    """The secrets registered in this process after :func:`mark` returned ``point``.

    A node hands them on with its outcome, so that a downstream task on
    another worker, which may print a value it received, hides them too.
    """
    with _lock:
        return tuple(_registered[point:])


def secret_count() -> int:
    """How many texts (secrets and their escaped forms) this process hides."""
    return len(_secrets)
