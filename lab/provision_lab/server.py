"""A static HTTP server on the bridge address for the stand-in repository and the image."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

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
