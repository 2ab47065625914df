"""Where the lab keeps its state and which network it uses.

Every value can be overridden with an environment variable, so tests and CI can run a lab
beside another one.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SUITES = ("bookworm", "trixie")
SUPPORTED_SUITES = ("bookworm", "trixie")
LOGIN_USER = "admin"


@dataclass(frozen=True)
class Extra:
    """A lab host beside lab1..labN, made only when asked for (``lab up --extra NAME``)."""

    name: str
    kind: str  # its base (``provision_lab.base.KINDS``)
    suite: str
    number: int  # its address is ``LabConfig.address(number)``, far above lab1..labN's
    about: str


EXTRA_HOSTS = {
    extra.name: extra
    for extra in (
        Extra("forky", "forky", "forky", 191, "Debian testing (forky) from Debian's archive"),
        Extra("sudors", "trixie-sudo-rs", "trixie", 192, "Debian 13 whose sudo is sudo-rs"),
    )
}


def project_root() -> Path:
    """The checkout this package runs from, or the working directory when installed."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").exists() and (root / "provision").is_dir():
        return root
    return Path.cwd()


@dataclass(frozen=True)
class LabConfig:
    """Paths and network settings of one lab."""

    lab_dir: Path
    cache_dir: Path
    subnet: ipaddress.IPv4Network
    bridge: str = "provlab0"
    mirror: str = "http://deb.debian.org/debian"
    repo_port: int = 8780
    user: str = LOGIN_USER
    suites: tuple[str, ...] = field(default=DEFAULT_SUITES)

    @classmethod
    def from_env(cls) -> LabConfig:
        """Read ``PROVISION_LAB_DIR``, ``PROVISION_LAB_CACHE``, ``PROVISION_LAB_SUBNET``..."""
        env = os.environ
        return cls(
            lab_dir=Path(env.get("PROVISION_LAB_DIR") or project_root() / ".lab").absolute(),
            cache_dir=Path(env.get("PROVISION_LAB_CACHE") or "/var/cache/provision-lab"),
            subnet=ipaddress.IPv4Network(env.get("PROVISION_LAB_SUBNET") or "10.77.0.0/24"),
            bridge=env.get("PROVISION_LAB_BRIDGE") or "provlab0",
            mirror=(env.get("PROVISION_LAB_MIRROR") or "http://deb.debian.org/debian").rstrip("/"),
            repo_port=int(env.get("PROVISION_LAB_REPO_PORT") or 8780),
        )

    @property
    def gateway(self) -> str:
        """The bridge address: the hosts' default route and the repository server."""
        return str(self.subnet.network_address + 1)

    def address(self, index: int) -> str:
        """Address of host number ``index`` (1-based)."""
        return str(self.subnet.network_address + 10 + index)

    @property
    def repo_url(self) -> str:
        """Base URL of the stand-in Docker repository, as ``docker_repo_url`` expects it."""
        return f"http://{self.gateway}:{self.repo_port}/linux"

    @property
    def image_url(self) -> str:
        """URL of the lab's container image archive."""
        return f"http://{self.gateway}:{self.repo_port}/images/hello.tar"

    # Files of the lab directory
    @property
    def state_file(self) -> Path:
        return self.lab_dir / "state.json"

    @property
    def hosts_dir(self) -> Path:
        return self.lab_dir / "machines"

    @property
    def key_file(self) -> Path:
        return self.lab_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.lab_dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.lab_dir / "ssh_config"

    @property
    def hosts_file(self) -> Path:
        return self.lab_dir / "hosts"

    @property
    def www_dir(self) -> Path:
        return self.lab_dir / "www"
