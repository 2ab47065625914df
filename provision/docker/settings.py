"""Typed settings of the Docker deploy, with their defaults.

Names follow the geerlingguy.docker Ansible role where one exists, so its users recognise them.
``validation.from_host_data`` builds them from a host's data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

DOCKER_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
DOCKER_UPSTREAM = "https://download.docker.com/linux"  # Docker's own repositories, one per distro
DEFAULT_PACKAGES = (
    "docker-ce",
    "docker-ce-cli",
    "containerd.io",
    "docker-buildx-plugin",
    "docker-compose-plugin",
)
DEFAULT_OBSOLETE = (
    "docker.io",
    "docker-doc",
    "docker-cli",  # Debian 13 splits its Docker into docker.io, docker-cli, docker-buildx
    "docker-buildx",
    "docker-compose",
    "docker-compose-v2",
    "podman-docker",
    "containerd",
    "runc",
    "docker-engine",
    "docker",
)
PINNED_PACKAGES = ("docker-ce", "docker-ce-cli", "docker-ce-rootless-extras")
CHANNELS = ("stable", "test")
LOG_DRIVERS_WITH_ROTATION = ("json-file", "local")
DEFAULT_LOG_OPTS = {"max-size": "10m", "max-file": "3"}
HELLO_WORLD = ("hello-world", "Hello from Docker!")


@dataclass(frozen=True)
class DockerSettings:
    """Everything the deploy and the verification read; see docs/configuration.md."""

    docker_packages: tuple[str, ...] = DEFAULT_PACKAGES
    docker_obsolete_packages: tuple[str, ...] = DEFAULT_OBSOLETE
    docker_packages_state: str = "present"
    docker_version: str | None = None
    docker_package_versions: Mapping[str, str] = field(default_factory=dict)
    docker_hold: bool = False
    docker_channel: str = "stable"
    docker_repo_url: str = DOCKER_UPSTREAM
    docker_gpg_key_url: str | None = None
    docker_gpg_fingerprint: str = DOCKER_FINGERPRINT
    docker_distro: str | None = None
    docker_codename: str | None = None
    docker_arch: str | None = None
    docker_users: tuple[str, ...] = ()
    docker_rootless_users: tuple[str, ...] = ()
    docker_daemon_options: Mapping[str, Any] = field(default_factory=dict)
    docker_daemon_json_keep_unmanaged: bool = True
    docker_log_driver: str = "json-file"
    docker_log_opts: Mapping[str, str] | None = None
    docker_registry_mirrors: tuple[str, ...] = ()
    docker_insecure_registries: tuple[str, ...] = ()
    docker_data_root: str | None = None
    docker_data_root_force: bool = False
    docker_live_restore: bool = False
    docker_proxy: Mapping[str, str] = field(default_factory=dict)
    apt_proxy: str | None = None
    docker_service_state: str = "started"
    docker_service_enabled: bool = True
    docker_purge_data: bool = False
    docker_apt_lock_timeout: int = 300
    docker_verify_image: str = "hello-world"
    docker_verify_image_url: str | None = None
    docker_verify_image_sha256: str | None = None
    docker_verify_output: str | None = None
    docker_hardening: bool = False
    docker_audit_rules: bool = False
    docker_audit_waivers: Mapping[str, str] = field(default_factory=dict)

    def key_url(self, distro: str) -> str:
        """Where the repository's signing key is downloaded from."""
        return self.docker_gpg_key_url or f"{self.docker_repo_url}/{distro}/gpg"

    def pins(self) -> dict[str, str]:
        """Package -> the version it is pinned to (``27.5``: the newest 27.5.x): the engine's
        packages to ``docker_version`` together, others to ``docker_package_versions``."""
        release = {
            name: self.docker_version
            for name in PINNED_PACKAGES
            if self.docker_version and name in self.docker_packages
        }
        return {**release, **self.docker_package_versions}

    def warnings(self) -> list[str]:
        """Settings that work but are unsafe (a TCP socket without TLS)."""
        options = self.docker_daemon_options
        tcp = [h for h in options.get("hosts", []) if str(h).startswith("tcp://")]
        tls = all(options.get(key) for key in ("tlsverify", "tlscert", "tlskey"))
        if tcp and not tls:
            return [
                f"docker_daemon_options opens {', '.join(tcp)} without tlsverify, tlscert "
                "and tlskey: anyone who reaches that port is root on the host."
            ]
        return []

    def log_opts(self) -> dict[str, str]:
        """``docker_log_opts``, or rotation (10 MB x 3) for the drivers that write files."""
        if self.docker_log_opts is not None:
            return dict(self.docker_log_opts)
        if self.docker_log_driver in LOG_DRIVERS_WITH_ROTATION:
            return dict(DEFAULT_LOG_OPTS)
        return {}

    def proxy(self) -> dict[str, str]:
        """``docker_proxy`` with ``no_proxy`` as one comma-separated string."""
        proxy = dict(self.docker_proxy)
        if isinstance(proxy.get("no_proxy"), (list, tuple)):
            proxy["no_proxy"] = ",".join(proxy["no_proxy"])
        return {key: proxy[key] for key in ("http", "https", "no_proxy") if proxy.get(key)}

    def verify_output(self) -> str | None:
        """Text the verification container must print (hello-world's greeting by default)."""
        if self.docker_verify_output is not None:
            return self.docker_verify_output
        image, greeting = HELLO_WORLD
        return greeting if self.docker_verify_image in (image, f"{image}:latest") else None

    def holds(self) -> list[str]:
        """Packages to hold with apt-mark (``docker_hold``): the engine's, and those pinned on
        their own."""
        if not self.docker_hold:
            return []
        own = [n for n in self.docker_packages if n in self.docker_package_versions]
        return [n for n in PINNED_PACKAGES if n in self.docker_packages] + own


SETTING_NAMES = tuple(f.name for f in fields(DockerSettings))
