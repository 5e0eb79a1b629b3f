"""``FsspecHook``: any fsspec file system, with its credentials from a connection.

A path is a URL (``/local/path``, ``memory://...``, ``s3://bucket/key``,
``gcs://...``); the protocol picks the file system. Credentials come from the
connection when one is given (``fs_conn_id``): for ``s3`` its login and
password are the access key and secret, as in Airflow's ``aws`` connection,
and its extra's ``endpoint_url``, ``region_name`` and ``aws_session_token``
go where s3fs wants them (other keys are passed on as storage options); for
any other protocol the extra is the storage options. Without a connection
(the default ``fs_default`` that is not defined) fsspec's own lookups apply
(environment, config files), as Airflow's ``fs_default`` gives the local
file system. A refusal by the file system (wrong credentials, no access, an
endpoint that cannot be reached) raises :class:`FileSystemError` naming the
conn_id and the URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from daskflow.exceptions import ConnectionNotFound, DaskflowError
from daskflow.hooks.base import BaseHook

#: The protocols whose credentials are a connection's login and password.
_KEY_SECRET = {"s3", "s3a"}
#: Airflow ``aws`` connection extras -> where s3fs takes them (``client_kwargs`` or a
#: keyword of its own).
_AWS_EXTRAS = {"endpoint_url": "client_kwargs", "region_name": "client_kwargs",
               "aws_session_token": "token"}


class FileSystemError(DaskflowError):
    """A file system refused a call (credentials, permissions, an unreachable endpoint)."""


class FsspecHook(BaseHook):
    """Opens, lists and copies files on fsspec file systems (see the module docstring)."""

    conn_name_attr: ClassVar[str] = "fs_conn_id"
    default_conn_name: ClassVar[str] = "fs_default"
    conn_type: ClassVar[str] = "fs"
    hook_name: ClassVar[str] = "File system (fsspec)"

    def storage_options(self, protocol: str) -> dict[str, Any]:
        """What fsspec needs for ``protocol`` from the connection (empty without one)."""
        try:
            connection = self.get_connection(self.get_conn_id())
        except ConnectionNotFound:
            if self.get_conn_id() == self.default_conn_name:
                return {}  # fs_default undefined: fsspec's own credentials
            raise
        options = dict(connection.extra_dejson)
        options.pop("path", None)
        return s3_options(connection, options) if protocol in _KEY_SECRET else options

    def get_fs(self, url: str) -> tuple[Any, str]:
        """``(file system, path on it)`` for ``url``."""
        import fsspec

        protocol = fsspec.utils.get_protocol(url)
        return fsspec.core.url_to_fs(url, **self.storage_options(protocol))

    def base_path(self) -> str | None:
        """The connection's extra ``path`` (Airflow's ``fs`` connection), if any."""
        try:
            return self.get_connection(self.get_conn_id()).extra_dejson.get("path")
        except ConnectionNotFound:
            if self.get_conn_id() == self.default_conn_name:
                return None
            raise

    def get_conn(self) -> Any:
        """The file system of the connection's base path (extra ``path``), or the local one."""
        import fsspec

        base = self.base_path()
        return self.get_fs(base)[0] if base else fsspec.filesystem("file")

    @contextmanager
    def errors_named(self, url: str) -> Iterator[None]:
        """Turn a refusal by the file system into a :class:`FileSystemError` naming the
        connection and the URL (a missing file stays ``FileNotFoundError``)."""
        try:
            yield
        except FileNotFoundError:
            raise
        except Exception as exc:
            if not _refusal(exc):
                raise
            hint = (" (access refused: check the connection's credentials)"
                    if isinstance(exc, PermissionError) else "")
            raise FileSystemError(f"connection {self.get_conn_id()!r}: {url}: "
                                  f"{type(exc).__name__}: {exc}{hint}") from None

    def exists(self, url: str) -> bool:
        fs, path = self.get_fs(url)
        with self.errors_named(url):
            return fs.exists(path)

    def glob(self, url: str) -> list[str]:
        """The files matching ``url`` (a glob), as paths on its file system."""
        fs, path = self.get_fs(url)
        with self.errors_named(url):
            return sorted(p for p in fs.glob(path) if fs.isfile(p))

    def read_bytes(self, url: str) -> bytes:
        fs, path = self.get_fs(url)
        with self.errors_named(url):
            return fs.cat_file(path)

    def write_bytes(self, url: str, data: bytes) -> None:
        fs, path = self.get_fs(url)
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        with self.errors_named(url):
            if parent:
                fs.makedirs(parent, exist_ok=True)
            fs.pipe_file(path, data)


def s3_options(connection: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """s3fs's options from an ``aws`` connection: login and password as key and
    secret, Airflow's extras where s3fs reads them, and ``host``/``port`` as the
    endpoint when the extra names none."""
    options = dict(extra)
    if connection.login:
        options.setdefault("key", connection.login)
    if connection.password:
        options.setdefault("secret", connection.password)
    for name, target in _AWS_EXTRAS.items():
        if name not in options:
            continue
        value = options.pop(name)
        if target == "client_kwargs":
            options["client_kwargs"] = {**options.get("client_kwargs", {}), name: value}
        else:
            options.setdefault(target, value)
    if connection.host and "endpoint_url" not in options.get("client_kwargs", {}):
        scheme = "https" if options.pop("use_ssl", False) else "http"
        port = f":{connection.port}" if connection.port else ""
        options["client_kwargs"] = {**options.get("client_kwargs", {}),
                                    "endpoint_url": f"{scheme}://{connection.host}{port}"}
    return options


def _refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is the file system saying no (rather than a bug in the caller):
    permissions, credentials, or an endpoint that cannot be reached."""
    if isinstance(exc, (PermissionError, ConnectionError, TimeoutError)):
        return True
    module = type(exc).__module__
    return module.startswith(("botocore", "aiobotocore", "aiohttp", "s3fs"))


def copy(source: str, destination: str, *, source_hook: FsspecHook | None = None,
         dest_hook: FsspecHook | None = None, overwrite: bool = True,
         chunk_size: int = 8 * 2 ** 20) -> list[str]:
    """Copy the file (or every file a glob matches) at ``source`` to ``destination``.

    A single file goes to ``destination`` itself, unless it ends with ``/``;
    several go into ``destination`` as a folder, by name. The bytes stream in
    chunks, so the two URLs may be on different file systems. Returns the
    destination paths written; an existing file is an error unless ``overwrite``.
    """
    source_hook = source_hook or FsspecHook()
    dest_hook = dest_hook or FsspecHook()
    src_fs, src_path = source_hook.get_fs(source)
    dst_fs, dst_path = dest_hook.get_fs(destination)
    pattern = any(char in src_path for char in "*?[")
    with source_hook.errors_named(source):
        files = sorted(p for p in src_fs.glob(src_path) if src_fs.isfile(p)) if pattern else (
            [src_path] if src_fs.isfile(src_path) else [])
    if not files:
        raise FileNotFoundError(f"nothing to copy: no file at {source!r}")
    into_folder = pattern or destination.endswith("/") or len(files) > 1
    written = []
    for path in files:
        target = (f"{dst_path.rstrip('/')}/{path.rsplit('/', 1)[-1]}" if into_folder
                  else dst_path)
        with dest_hook.errors_named(destination):
            if not overwrite and dst_fs.exists(target):
                raise FileExistsError(f"{target!r} exists and overwrite is False")
            parent = target.rsplit("/", 1)[0] if "/" in target else ""
            if parent:
                dst_fs.makedirs(parent, exist_ok=True)
        # A refusal by the destination passes the source's check unchanged: it is
        # already a FileSystemError.
        with source_hook.errors_named(source), src_fs.open(path, "rb") as reader:
            with dest_hook.errors_named(destination), dst_fs.open(target, "wb") as writer:
                while chunk := reader.read(chunk_size):
                    writer.write(chunk)
        written.append(target)
    return written
