"""``Connection``: where an external system is and how to log in to it.

A connection is made from fields or read from a URI in Airflow's form::

    postgresql://login:password@host:5432/schema?sslmode=require

The scheme is the ``conn_type`` (``-`` read as ``_``), login and password are
percent-decoded, the path is the ``schema`` and the query is ``extra``; a
single ``__extra__`` query parameter holds ``extra`` as JSON instead, for
values that are not strings. :meth:`Connection.get_uri` writes the same form
back. A URI or JSON that cannot be read raises :class:`InvalidConnection`
naming the conn_id and what is wrong.

This module is pure: :meth:`Connection.get` defers to ``lookup.py``, which
reads the environment and the metadata store.

>>> c = Connection.from_uri("postgresql://me:p%40ss@db.local:5432/sales?sslmode=require",
...                         conn_id="sales_db")
>>> (c.conn_type, c.login, c.password, c.host, c.port, c.schema, c.extra_dejson)
('postgresql', 'me', 'p@ss', 'db.local', 5432, 'sales', {'sslmode': 'require'})
>>> c.get_uri()
'postgresql://me:p%40ss@db.local:5432/sales?sslmode=require'
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from daskflow.exceptions import InvalidConnection

#: The fields of a connection besides its id, in the order Airflow lists them.
FIELDS = ("conn_type", "description", "host", "schema", "login", "password", "port", "extra")
EXTRA_PARAM = "__extra__"


class Connection:
    """A connection to an external system (Airflow's ``Connection``, same fields).

    ``extra`` is kept as JSON text; pass a dict and it is serialised.
    ``uri=`` fills the fields from a URI (then other fields must not be given).
    """

    def __init__(self, conn_id: str, conn_type: str | None = None,
                 description: str | None = None, host: str | None = None,
                 schema: str | None = None, login: str | None = None,
                 password: str | None = None, port: int | None = None,
                 extra: str | dict[str, Any] | None = None, uri: str | None = None) -> None:
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise InvalidConnection(f"a connection needs a non-empty conn_id, got {conn_id!r}")
        self.conn_id = conn_id
        if uri is not None:
            given = [n for n, v in (("conn_type", conn_type), ("host", host), ("schema", schema),
                                    ("login", login), ("password", password), ("port", port),
                                    ("extra", extra)) if v is not None]
            if given:
                raise InvalidConnection(f"connection {conn_id!r}: give either uri or fields, "
                                        f"not both (also got {', '.join(given)})")
            parsed = _parse_uri(conn_id, uri)
            conn_type, host, schema = parsed["conn_type"], parsed["host"], parsed["schema"]
            login, password, port = parsed["login"], parsed["password"], parsed["port"]
            extra = parsed["extra"]
        self.conn_type = conn_type
        self.description = description
        self.host = host
        self.schema = schema
        self.login = login
        self.password = password
        self.port = _port(conn_id, port)
        self.extra = _extra_text(conn_id, extra)

    # -- reading ----------------------------------------------------------------------
    @classmethod
    def from_uri(cls, uri: str, conn_id: str) -> Connection:
        """The connection ``conn_id`` described by ``uri``."""
        return cls(conn_id=conn_id, uri=uri)

    @classmethod
    def from_json(cls, value: str | dict[str, Any], conn_id: str) -> Connection:
        """The connection ``conn_id`` from a JSON object of its fields (or that dict).

        ``conn_type`` is required; ``extra`` may be an object or JSON text; a
        ``uri`` key alone is read as a URI. Unknown keys are an error.
        """
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InvalidConnection(f"connection {conn_id!r}: JSON is not valid "
                                        f"({exc.msg} at position {exc.pos})") from None
        if not isinstance(value, dict):
            raise InvalidConnection(f"connection {conn_id!r}: JSON must be an object of "
                                    f"fields, got {type(value).__name__}")
        fields = dict(value)
        fields.pop("conn_id", None)
        if "uri" in fields:
            description = fields.pop("description", None)
            uri = fields.pop("uri")
            if fields:
                raise InvalidConnection(f"connection {conn_id!r}: 'uri' cannot be combined "
                                        f"with {', '.join(sorted(fields))}")
            return cls(conn_id=conn_id, uri=uri, description=description)
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise InvalidConnection(f"connection {conn_id!r}: unknown field(s) "
                                    f"{', '.join(unknown)}; known: {', '.join(FIELDS)}")
        if not fields.get("conn_type"):
            raise InvalidConnection(f"connection {conn_id!r}: JSON needs a 'conn_type'")
        return cls(conn_id=conn_id, **fields)

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """The connection ``conn_id`` from the environment, else the metadata store.

        Raises :class:`~daskflow.exceptions.ConnectionNotFound` naming every place
        looked when it is nowhere.
        """
        from daskflow.secrets.lookup import get_connection

        return get_connection(conn_id)

    # -- writing ----------------------------------------------------------------------
    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` as a dict (empty when there is none)."""
        return json.loads(self.extra) if self.extra else {}

    def get_uri(self) -> str:
        """The connection as a URI that :meth:`from_uri` reads back to the same fields."""
        scheme = (self.conn_type or "").replace("_", "-")
        uri = f"{scheme}://"
        if self.login is not None or self.password is not None:
            uri += quote(self.login or "", safe="")
            if self.password is not None:
                uri += ":" + quote(self.password, safe="")
            uri += "@"
        uri += quote(self.host or "", safe="")
        if self.port is not None:
            uri += f":{self.port}"
        if self.schema:
            uri += "/" + quote(self.schema, safe="")
        extra = self.extra_dejson
        if extra:
            if all(isinstance(v, str) for v in extra.values()):
                uri += "?" + urlencode(extra)
            else:
                uri += "?" + urlencode({EXTRA_PARAM: json.dumps(extra)})
        return uri

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (``extra`` decoded), what ``connections export`` writes."""
        out: dict[str, Any] = {"conn_id": self.conn_id}
        out.update({name: getattr(self, name) for name in FIELDS})
        out["extra"] = self.extra_dejson or None
        return out

    def as_json(self) -> str:
        """The fields (not the conn_id) as JSON that :meth:`from_json` reads back."""
        fields = self.to_dict()
        del fields["conn_id"]
        return json.dumps({k: v for k, v in fields.items() if v is not None})

    def secret_values(self) -> list[str]:
        """The values to hide from logs and output: the password and every extra value
        that is text (extras often hold tokens)."""
        values = [self.password] if self.password else []
        for value in self.extra_dejson.values():
            if isinstance(value, str) and value:
                values.append(value)
        return values

    def test_connection(self) -> tuple[bool, str]:
        """Try to reach the system: ``(reached, message)`` (``connections test``)."""
        from daskflow.secrets.probe import probe

        return probe(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Connection):
            return NotImplemented
        return self.conn_id == other.conn_id and all(
            getattr(self, n) == getattr(other, n) for n in FIELDS)

    def __hash__(self) -> int:
        return hash(self.conn_id)

    def __repr__(self) -> str:
        host = f" {self.host}" if self.host else ""
        return f"<Connection {self.conn_id!r} {self.conn_type}{host}>"


def _port(conn_id: str, port: Any) -> int | None:
    if port is None or port == "":
        return None
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise InvalidConnection(f"connection {conn_id!r}: port must be a number, "
                                f"got {port!r}") from None
    if not 0 < value < 65536:
        raise InvalidConnection(f"connection {conn_id!r}: port {value} is out of range "
                                "(1-65535)")
    return value


def _extra_text(conn_id: str, extra: Any) -> str | None:
    if extra is None or extra == "":
        return None
    if isinstance(extra, dict):
        return json.dumps(extra)
    if isinstance(extra, str):
        try:
            decoded = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise InvalidConnection(f"connection {conn_id!r}: extra is not valid JSON "
                                    f"({exc.msg} at position {exc.pos})") from None
        if not isinstance(decoded, dict):
            raise InvalidConnection(f"connection {conn_id!r}: extra must be a JSON object, "
                                    f"got {type(decoded).__name__}")
        return extra
    raise InvalidConnection(f"connection {conn_id!r}: extra must be a dict or JSON text, "
                            f"got {type(extra).__name__}")


def _parse_uri(conn_id: str, uri: str) -> dict[str, Any]:
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidConnection(f"connection {conn_id!r}: URI {_masked(uri)!r} has no "
                                "scheme; write it as conn-type://login:password@host:port/"
                                "schema")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidConnection(f"connection {conn_id!r}: URI {_masked(uri)!r} is not "
                                f"valid: {exc}") from None
    if not parts.scheme:
        raise InvalidConnection(f"connection {conn_id!r}: URI {_masked(uri)!r} has no "
                                "conn type before '://'")
    query = parts.query
    extra: Any = None
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        names = [name for name, _ in pairs]
        if EXTRA_PARAM in names:
            if len(pairs) > 1:
                raise InvalidConnection(f"connection {conn_id!r}: {EXTRA_PARAM} cannot be "
                                        "combined with other query parameters")
            try:
                extra = json.loads(pairs[0][1])
            except json.JSONDecodeError as exc:
                raise InvalidConnection(f"connection {conn_id!r}: {EXTRA_PARAM} in the URI is "
                                        f"not valid JSON ({exc.msg})") from None
            if not isinstance(extra, dict):
                raise InvalidConnection(f"connection {conn_id!r}: {EXTRA_PARAM} must be a "
                                        "JSON object")
        else:
            extra = dict(pairs)
    return {
        "conn_type": parts.scheme.replace("-", "_"),
        "host": unquote(parts.hostname) if parts.hostname else None,
        "schema": unquote(parts.path[1:]) if parts.path[1:] else None,
        "login": unquote(parts.username) if parts.username is not None else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "port": port,
        "extra": extra or None,
    }


def _masked(uri: Any) -> str:
    """``uri`` with any password replaced, for error messages."""
    text = str(uri)
    head, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    userinfo, _, tail = rest.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{head}://{userinfo}@{tail}"
