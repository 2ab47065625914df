"""``provision status``: what each host runs and whether it drifted, without changing anything."""

from __future__ import annotations

from pyinfra import host

from provision.docker.deploy import SOURCES
from provision.docker.facts import FileContent, OsTarget, Packages, ServiceState
from provision.docker.settings import DockerSettings

WATCHED = (
    "docker-ce",
    "docker-ce-cli",
    "containerd.io",
    "docker-compose-plugin",
    "docker-buildx-plugin",
)


def inspect_host(settings: DockerSettings) -> dict:
    """Facts of the current host for the status table (run inside a pyinfra host context)."""
    os_release, arch = host.get_fact(OsTarget)
    packages = host.get_fact(Packages, packages=list(WATCHED))
    services = host.get_fact(ServiceState, units=["docker", "containerd"])
    sources = host.get_fact(FileContent, path=SOURCES)
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
        "held": sorted(name for name in WATCHED if name in packages and packages[name].held),
        "docker_service": "/".join(services.get("docker", ("unknown", "unknown"))),
        "containerd_service": "/".join(services.get("containerd", ("unknown", "unknown"))),
    }
