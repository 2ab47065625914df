"""Fixtures for end-to-end tests on lab hosts (systemd-nspawn machines booted with systemd)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.docker.deploy import install_docker, uninstall_docker
from provision.orchestrate import inventory as fleet_inventory
from provision.orchestrate.run import run_deploy
from provision.verify.run import verify
from provision_lab.config import project_root
from provision_lab.lab import Lab
from provision_lab.ssh import ssh_command
from provision_lab.system import REQUIRED_TOOLS

INVENTORY = str(project_root() / "inventories" / "lab.py")
SUITES = {"lab1": "bookworm", "lab2": "trixie"}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.lab)


def _lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root"
    missing = [tool for tool in REQUIRED_TOOLS if not shutil.which(tool)]
    return f"lab tests need {', '.join(missing)} (make lab-deps)" if missing else None


@pytest.fixture(scope="session")
def lab():
    """A running lab with lab1 (bookworm) and lab2 (trixie)."""
    reason = _lab_unavailable()
    if reason:
        pytest.skip(reason)
    lab = Lab()
    lab.up(2, ["bookworm", "trixie"])
    return lab


def sh(lab: Lab, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``command`` on a lab host over SSH (strict host key checking, the lab's key)."""
    result = subprocess.run(
        ssh_command(lab.config, host, command), capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{host}: {command!r} failed: {result.stderr.strip()}")
    return result


def provision(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the ``provision`` command as a user would, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "provision", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )


def fleet(*hosts: str, **data):
    """The lab inventory limited to ``hosts`` with setting overrides."""
    return fleet_inventory.load(INVENTORY, list(hosts), data)


def apply(*hosts: str, **data):
    return run_deploy(fleet(*hosts, **data), install_docker, "apply")


def uninstall(*hosts: str, **data):
    return run_deploy(fleet(*hosts, **data), uninstall_docker, "uninstall")


def check(*hosts: str, **data):
    return verify(fleet(*hosts, **data))


@dataclass
class Proxy:
    url: str
    log: Path

    def requests(self) -> list[str]:
        """What clients asked the proxy for (``GET http://…``, ``CONNECT host:port``)."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [line.split("): ", 1)[1] for line in lines if "Request (file descriptor" in line]


@contextmanager
def tinyproxy(lab: Lab, directory: Path, login: tuple[str, str] | None = None):
    """tinyproxy (from Debian's archive) on the lab bridge, logging every request; with
    ``login`` it wants that user and password (HTTP basic auth), and its URL carries them."""
    directory.chmod(0o777)  # tinyproxy drops to an unprivileged user
    with socket.socket() as probe:
        probe.bind((lab.config.gateway, 0))
        port = probe.getsockname()[1]
    config = directory / "tinyproxy.conf"
    log = directory / "tinyproxy.log"
    config.write_text(
        f'Port {port}\nListen {lab.config.gateway}\nTimeout 60\nLogFile "{log}"\n'
        f"LogLevel Info\nMaxClients 50\nAllow {lab.config.subnet}\nDisableViaHeader Yes\n"
        + (f"BasicAuth {login[0]} {login[1]}\n" if login else "")
    )
    process = subprocess.Popen(
        ["tinyproxy", "-d", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex((lab.config.gateway, port)) == 0:
                break
        time.sleep(0.1)
    auth = f"{login[0]}:{login[1]}@" if login else ""
    try:
        yield Proxy(f"http://{auth}{lab.config.gateway}:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def failures(result, host: str) -> list[str]:
    return [f"{c.id}: {c.message}" for c in result.hosts[host].checks if not c.passed]


def debian_docker_with_container(lab: Lab, host: str, packages: str) -> None:
    """Install Debian's own Docker ``packages`` on ``host`` and run the user's container
    ``old`` there (the lab image, sleeping)."""
    image, reference = lab.state["image"]["url"], lab.state["image"]["reference"]
    fetch = "python3 -c 'import sys,urllib.request;urllib.request.urlretrieve(*sys.argv[1:])'"
    sh(
        lab,
        host,
        "sudo apt-get -q update >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get -q -y "
        f"install --no-install-recommends {packages} >/dev/null && "
        f"{fetch} {image} /tmp/hello.tar && sudo docker load -i /tmp/hello.tar >/dev/null && "
        f"sudo docker run -d --name old {reference} sleep 3600 >/dev/null",
    )
