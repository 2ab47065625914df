"""The hardened setting (``docker_hardening``) and the audit rules (``docker_audit_rules``):
what they add to a host so that it passes the CIS Docker Benchmark's sections 1 to 3
(no pyinfra needed; see docs/audit.md for what is left off and why)."""

from __future__ import annotations

from .layout import DEFAULT_DATA_ROOT
from .settings import DockerSettings

# daemon.json options docker_hardening sets (docker_daemon_options wins over each):
# 2.14, 2.15 and 2.16 of the benchmark
HARDENED_OPTIONS = {"no-new-privileges": True, "live-restore": True, "userland-proxy": False}
AUDIT_PACKAGES = ["auditd"]
AUDIT_KEY = "docker"
# 1.1.3 to 1.1.18 on a merged-/usr Debian or Ubuntu host (/etc/sysconfig is Red Hat's, so
# 1.1.13 has nothing to watch); {data_root} is the daemon's data root (1.1.5). dockerd is
# /usr/bin/dockerd in Docker's packages and /usr/sbin/dockerd in Debian's docker.io.
WATCHED = (
    "/usr/bin/dockerd",
    "/usr/sbin/dockerd",
    "/run/containerd",
    "{data_root}",
    "/etc/docker",
    "/usr/lib/systemd/system/docker.service",
    "/run/containerd/containerd.sock",
    "/usr/lib/systemd/system/docker.socket",
    "/etc/default/docker",
    "/etc/docker/daemon.json",
    "/etc/containerd/config.toml",
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim",
    "/usr/bin/containerd-shim-runc-v1",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/runc",
)


def hardened_options(settings: DockerSettings) -> dict:
    """The daemon.json options ``docker_hardening`` adds (none without it)."""
    return dict(HARDENED_OPTIONS) if settings.docker_hardening else {}


def audit_rules(settings: DockerSettings) -> str | None:
    """The auditd rules file watching Docker's daemon, files and directories, ``None`` unless
    ``docker_audit_rules`` asks for it. The data root has passed settings' path grammar."""
    if not settings.docker_audit_rules:
        return None
    root = settings.docker_data_root or DEFAULT_DATA_ROOT
    lines = [f"-w {path.format(data_root=root)} -p rwxa -k {AUDIT_KEY}" for path in WATCHED]
    return (
        "# Docker's daemon, files and directories (CIS Docker Benchmark 1.1)\n"
        + "\n".join(lines)
        + "\n"
    )
