"""Section 1, host configuration: Docker's data on its own partition, who may control the
daemon, and audit rules for the daemon and each of Docker's files and directories."""

from __future__ import annotations

from .model import failed, not_applicable, passed
from .registry import check, manual
from .state import canonical

AUDIT_FIX = (
    "Set docker_audit_rules: true (installs Debian's auditd and the rules of section 1.1), "
    "or add `-w {path} -p rwxa -k docker` to /etc/audit/rules.d/ and run augenrules --load."
)


@check(
    "1.1.1",
    "Ensure a separate partition for containers has been created",
    "separate partition",
    1,
    "Mount the Docker data root on a partition of its own (a new disk or an LVM volume) "
    "before installing; docker_data_root can point Docker at it.",
)
def separate_partition(state):
    root = state.data_root
    mounts = state.mounts
    if not mounts:
        return failed("the mounts could not be read (findmnt)")
    if root in mounts:
        source, fstype = mounts[root]
        return passed(f"{root} is a mount of its own: {source} ({fstype})")
    above = [m for m in mounts if root.startswith(m.rstrip("/") + "/")]
    covering = max(above, key=len, default="/")
    return failed(f"{root} is on the filesystem mounted at {covering}")


@check(
    "1.1.2",
    "Ensure only trusted users are allowed to control Docker daemon",
    "trusted docker group",
    1,
    "List the users who may control Docker in docker_users, and remove others with "
    "gpasswd -d USER docker (the deploy only adds users).",
)
def trusted_users(state):
    members = state.group_members
    if members is None:
        return not_applicable("there is no docker group")
    others = [m for m in members if m not in state.trusted_users]
    if others:
        return failed(f"docker group members not in docker_users: {', '.join(others)}")
    return passed(f"docker group: {', '.join(members) or 'no members'}")


def _audited(state, path: str | None, missing_is_na: bool = True):
    """An audit rule watches ``path`` (not applicable when the host has no such file)."""
    if path is None:
        return not_applicable("the unit file could not be found")
    if missing_is_na and path not in state.stats:
        return not_applicable(f"{path} does not exist")
    watched, where = state.audit_watches
    if canonical(path) in watched:
        return passed(f"{path} is watched ({where})")
    return failed(f"no audit rule watches {path} ({where})")


def _audit_check(id, what, name, path_of, missing_is_na=True):
    check(
        id,
        f"Ensure auditing is configured for Docker files and directories - {what}"
        if what != "the Docker daemon"
        else "Ensure auditing is configured for the Docker daemon",
        f"audit {name}",
        2,
        AUDIT_FIX.format(path=FIX_PATHS.get(what, what)),
    )(lambda state: _audited(state, path_of(state), missing_is_na))


FIX_PATHS = {
    "the Docker daemon": "/usr/bin/dockerd",
    "docker.service": "/usr/lib/systemd/system/docker.service",
    "docker.socket": "/usr/lib/systemd/system/docker.socket",
    "containerd.sock": "/run/containerd/containerd.sock",
}


def _unit(name):
    return lambda state: state.unit_paths.get(name)


def _fixed(path):
    return lambda state: path


_audit_check("1.1.3", "the Docker daemon", "dockerd", lambda state: state.dockerd)
_audit_check("1.1.4", "/run/containerd", "/run/containerd", _fixed("/run/containerd"))
_audit_check("1.1.5", "/var/lib/docker", "data root", lambda state: state.data_root)
_audit_check("1.1.6", "/etc/docker", "/etc/docker", _fixed("/etc/docker"))
_audit_check("1.1.7", "docker.service", "docker.service", _unit("docker.service"))
_audit_check(
    "1.1.8", "containerd.sock", "containerd.sock", _fixed("/run/containerd/containerd.sock")
)
_audit_check("1.1.9", "docker.socket", "docker.socket", _unit("docker.socket"))
_audit_check("1.1.10", "/etc/default/docker", "/etc/default/docker", _fixed("/etc/default/docker"))
_audit_check("1.1.11", "/etc/docker/daemon.json", "daemon.json", _fixed("/etc/docker/daemon.json"))
_audit_check(
    "1.1.12",
    "/etc/containerd/config.toml",
    "containerd config.toml",
    _fixed("/etc/containerd/config.toml"),
)
_audit_check(
    "1.1.13", "/etc/sysconfig/docker", "/etc/sysconfig/docker", _fixed("/etc/sysconfig/docker")
)
_audit_check("1.1.14", "/usr/bin/containerd", "containerd", _fixed("/usr/bin/containerd"))
_audit_check(
    "1.1.15", "/usr/bin/containerd-shim", "containerd-shim", _fixed("/usr/bin/containerd-shim")
)
_audit_check(
    "1.1.16",
    "/usr/bin/containerd-shim-runc-v1",
    "containerd-shim-runc-v1",
    _fixed("/usr/bin/containerd-shim-runc-v1"),
)
_audit_check(
    "1.1.17",
    "/usr/bin/containerd-shim-runc-v2",
    "containerd-shim-runc-v2",
    _fixed("/usr/bin/containerd-shim-runc-v2"),
)
_audit_check("1.1.18", "/usr/bin/runc", "runc", _fixed("/usr/bin/runc"))

manual(
    "1.2.1",
    "Ensure the container host has been Hardened",
    "host hardened",
    1,
    "Harden the host operating system (e.g. against the CIS benchmark of its distribution).",
)
manual(
    "1.2.2",
    "Ensure that the version of Docker is up to date",
    "Docker up to date",
    1,
    "Compare the installed engine with Docker's releases; docker_packages_state: latest or "
    "docker_version keeps it where you decide.",
)
