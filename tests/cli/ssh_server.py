"""An OpenSSH server on 127.0.0.1 for the ``daskflow cluster ssh`` tests.

Everything it uses is thrown away with the test's temporary folder: a host
key, a client key (the only one authorized), a ``known_hosts`` file naming
the host key, and an ``sshd_config`` of its own, with password logins off.
Sessions get ``PYTHONPATH`` pointing at this checkout (``SetEnv``), as a real
host would have daskflow installed. sshd runs in the foreground (``-D``) as
a child of the test, on a free port.

Stopping the listening sshd does not end its sessions, nor what they run: on
exit every process the server started that is still alive after a grace
period (a session whose client is still connected, a scheduler or worker left
behind) is killed, and named in ``SshServer.leftovers`` so that the test's
fixture can fail on it.

A missing ``sshd`` skips the test with how to install it, except under
``CI=true``, where it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from cli_processes import ROOT, wait_for

SSHD = "/usr/sbin/sshd"
INSTALL = "apt-get install -y openssh-server openssh-client"


@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    key: Path
    known_hosts: Path
    process: subprocess.Popen
    #: Processes started through this server that outlived it (filled on exit).
    leftovers: list[str] = field(default_factory=list)

    def login_options(self) -> list[str]:
        """``daskflow cluster ssh`` options that log in to this server."""
        return ["--ssh-port", str(self.port), "--ssh-username", self.user,
                "--ssh-key", str(self.key), "--known-hosts", str(self.known_hosts)]


def require_openssh() -> None:
    missing = [tool for tool, found in ((SSHD, os.access(SSHD, os.X_OK)),
                                        ("ssh-keygen", shutil.which("ssh-keygen")))
               if not found]
    if missing:
        reason = f"{' and '.join(missing)} not installed; install with: {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_key(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)
    return path


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def local_sshd(folder: Path) -> Iterator[SshServer]:
    """An sshd on 127.0.0.1 that only ``SshServer.key`` logs in to; stopped on exit."""
    require_openssh()
    folder.mkdir(parents=True, exist_ok=True)
    host_key = new_key(folder / "host_key")
    client_key = new_key(folder / "client_key")
    shutil.copy(f"{client_key}.pub", folder / "authorized_keys")
    port = free_port()
    key_type, key = (folder / "host_key.pub").read_text().split()[:2]
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {key}\n")
    (folder / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", "PidFile none",
        "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no",
        # Key logins only, root's included (the tests run as root in CI).
        "PermitRootLogin prohibit-password",
        # The temporary folder's modes are not sshd's business here.
        "StrictModes no",
        f"SetEnv PYTHONPATH={ROOT}", ""]))
    if os.geteuid() == 0:
        # sshd started by root wants its privilege separation folder, which only
        # the Debian service's start-up creates.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = open(folder / "sshd.log", "w")  # noqa: SIM115 -- closed below
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        def listening() -> bool:
            assert process.poll() is None, (folder / "sshd.log").read_text()
            return accepts_connections(port)

        wait_for(listening, f"sshd listening on 127.0.0.1:{port}")
        server = SshServer(port, getpass.getuser(), client_key, folder / "known_hosts", process)
        yield server
    finally:
        started = psutil.Process(process.pid).children(recursive=True)
        process.terminate()
        process.wait(60)
        log.close()
        # Killed even when the test failed; reported through the server otherwise.
        left = outlived(started)
    server.leftovers.extend(left)


def outlived(processes: list[psutil.Process], grace: float = 30) -> list[str]:
    """Those of ``processes`` still alive after ``grace`` seconds, each killed and named."""
    _, alive = psutil.wait_procs(processes, timeout=grace)
    names = []
    for survivor in alive:
        try:
            if survivor.status() == psutil.STATUS_ZOMBIE:
                continue
            names.append(f"{survivor.pid} {' '.join(survivor.cmdline())}")
            survivor.kill()
        except psutil.NoSuchProcess:
            pass
    return names
