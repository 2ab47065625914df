"""Where Docker's apt setup lives on a host, and what the sources file says (no pyinfra needed)."""

from __future__ import annotations

from .settings import DockerSettings

KEYRING = "/etc/apt/keyrings/docker.asc"
SOURCES = "/etc/apt/sources.list.d/docker.sources"
DAEMON_JSON = "/etc/docker/daemon.json"
LEGACY_KEYRING = "/etc/apt/trusted.gpg"


def sources_text(settings: DockerSettings, distro: str, codename: str, arch: str) -> str:
    """The deb822 ``docker.sources`` of Docker's install guide."""
    return (
        "Types: deb\n"
        f"URIs: {settings.docker_repo_url}/{distro}\n"
        f"Suites: {codename}\n"
        f"Components: {settings.docker_channel}\n"
        f"Architectures: {arch}\n"
        f"Signed-By: {KEYRING}\n"
    )


def packages_index_url(settings: DockerSettings, distro: str, codename: str, arch: str) -> str:
    """The repository's ``Packages`` index that apt reads for ``docker.sources``."""
    return (
        f"{settings.docker_repo_url}/{distro}/dists/{codename}/"
        f"{settings.docker_channel}/binary-{arch}/Packages"
    )
