"""Fixtures of the hook tests: a real HTTP server and a real SMTP server (aiosmtpd) on
127.0.0.1, proxies switched off.

Every request is recorded before it is answered. What a path answers is set
per test: a list of ``(status, body)`` answers given in order, the last one
repeated once the others are used up.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    base_url: str = ""
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    routes: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def answer(self, path: str, *answers: tuple[int, str]) -> None:
        self.routes[path] = list(answers)

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def _next(self, path: str) -> tuple[int, str]:
        answers = self.routes.get(path.split("?")[0])
        if not answers:
            return 404, "no such page"
        return answers.pop(0) if len(answers) > 1 else answers[0]


def start() -> tuple[Server, ThreadingHTTPServer, threading.Thread]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(Request(self.command, self.path, dict(self.headers), body))
            status, text = state._next(self.path)
            answer = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if text.startswith("{")
                             else "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    state.base_url = f"http://127.0.0.1:{state.port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return state, server, thread


def stop(server: ThreadingHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def http_api() -> Iterator[Server]:
    state, server, thread = start()
    yield state
    stop(server, thread)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy may carry a test's request off this machine."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# -- SMTP ------------------------------------------------------------------------------
SMTP_PASSWORD = "right-smtp-password-93"


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every envelope and every login attempt (smtplib tries
    several mechanisms per connection, so one refused login is several attempts)."""

    host: str = "127.0.0.1"
    port: int = 0
    #: The only password the server accepts.
    password: str = SMTP_PASSWORD
    envelopes: list = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    #: The client address of each login attempt: one per TCP connection that tried.
    login_peers: set = field(default_factory=set)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        self.login_peers.add(tuple(session.peer))
        return AuthResult(success=password == self.password, handled=False)

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(e.content, policy=default_policy) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A plain SMTP server (no TLS) that accepts any login with its ``password``."""
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname=box.host, port=box.port, server_hostname="localhost",
                            authenticator=box.authenticate, auth_require_tls=False)
    controller.start()
    yield box
    controller.stop()
