"""``provision status``: what each host runs and whether it drifted, without changing anything."""

from __future__ import annotations

from provision.core.snapshot import read
from provision.docker.facts import FileContent, OsTarget, Packages, ServiceState
from provision.docker.layout import SOURCES
from provision.docker.settings import DockerSettings


def inspect_host(settings: DockerSettings) -> dict:
    """Facts of the current host for the status table, read after ``install_docker`` was
    prepared on it, so they come from its one-command snapshot."""
    os_release, arch = read(OsTarget)
    packages = read(Packages, packages=list(settings.docker_packages))
    services = {unit: read(ServiceState, units=[unit])[unit] for unit in ("docker", "containerd")}
    sources = read(FileContent, path=SOURCES)
    channel = ""
    if sources:
        for line in sources.content.decode(errors="replace").splitlines():
            if line.startswith("Components:"):
                channel = line.split(":", 1)[1].strip()

    def version(name: str) -> str:
        return packages[name].version if name in packages else ""

    return {
        "os": os_release.get("PRETTY_NAME", "?") + f" ({arch})",
        "docker": version("docker-ce"),
        "compose": version("docker-compose-plugin"),
        "channel": channel,
        "pinned": settings.docker_version or "",
        "held": sorted(name for name, state in packages.items() if name and state.held),
        "docker_service": "/".join(services["docker"]),
        "containerd_service": "/".join(services["containerd"]),
    }
