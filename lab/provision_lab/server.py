"""A static HTTP server on the bridge address for the stand-in repository and the image, and
the same files behind HTTP basic auth, as a private mirror serves them (for tests of logins)."""

from __future__ import annotations

import base64
import functools
import hmac
import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .config import LabConfig
from .errors import LabError
from .system import cmdline, pids_matching, process_alive, terminate


def is_serving(config: LabConfig, pid: int | None) -> bool:
    """True when our server process is alive and serves the lab's www directory."""
    return process_alive(pid) and str(config.www_dir) in cmdline(pid or 0)


def start(config: LabConfig) -> int:
    """Start ``python -m http.server`` bound to the bridge; return its pid."""
    log = open(config.lab_dir / "www.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            config.gateway,
            "--directory",
            str(config.www_dir),
            str(config.repo_port),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((config.gateway, config.repo_port), timeout=0.5).close()
            return process.pid
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    terminate([process.pid], 1)
    raise LabError(
        f"the lab repository server did not start on {config.gateway}:"
        f"{config.repo_port}; is the port in use? set PROVISION_LAB_REPO_PORT."
    )


def stop(config: LabConfig, pid: int | None) -> None:
    """Stop the server (also one left over from a crashed lab)."""

    def ours(other: int) -> bool:
        argv = cmdline(other)
        return "http.server" in argv and str(config.www_dir) in argv

    terminate({*pids_matching(ours), *([pid] if is_serving(config, pid) else [])}, 5)


class _LoginHandler(http.server.SimpleHTTPRequestHandler):
    """Files as ``http.server`` serves them, to a client that sends ``server.login``; others
    get what a private mirror (Artifactory, Nexus) answers: 401 with a Basic challenge."""

    server: _LoginServer

    def do_GET(self):  # noqa: N802 - http.server's name
        if self._allowed():
            super().do_GET()

    def do_HEAD(self):  # noqa: N802
        if self._allowed():
            super().do_HEAD()

    def _allowed(self) -> bool:
        sent = self.headers.get("Authorization", "")
        allowed = hmac.compare_digest(sent.encode(), self.server.expected.encode())
        self.server.requests.append((self.command, self.path, allowed))
        if not allowed:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="lab repository"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        return allowed

    def log_message(self, format, *args):  # noqa: A002 - http.server's name
        pass  # the requests are kept in ``server.requests``, without headers


class _LoginServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, directory: str, login: tuple[str, str]):
        handler = functools.partial(_LoginHandler, directory=directory)
        super().__init__(address, handler)
        token = base64.b64encode(":".join(login).encode()).decode()
        self.expected = f"Basic {token}"
        self.requests: list[tuple[str, str, bool]] = []  # method, path, authorised


@contextmanager
def serving_with_login(config: LabConfig, login: tuple[str, str]) -> Iterator[_LoginServer]:
    """The lab's www directory (the stand-in repository and the image) on the bridge address
    behind HTTP basic auth with ``login`` (user, password), on a free port, for as long as the
    context lasts: ``server.server_address`` and the ``requests`` it was asked."""
    server = _LoginServer((config.gateway, 0), str(config.www_dir), login)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
