"""A host as the audit's probe would read it, in plain data: ``AuditHost().state()`` is the
``HostState`` the real parser makes of the sections the real probe commands would print."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field

from provision.audit.state import HostState
from provision.docker.hardening import audit_rules
from provision.docker.settings import DockerSettings
from provision.verify.probe import Section

HARDENED = DockerSettings(docker_hardening=True, docker_audit_rules=True)


def _container(**changes) -> dict:
    """A running container that passes every check of section 5."""
    container = {
        "Id": "0123456789abcdef",
        "Name": "/web",
        "AppArmorProfile": "docker-default",
        "State": {"Status": "running", "Health": {"Status": "healthy"}},
        "HostConfig": {
            "Privileged": False,
            "CapAdd": None,
            "NetworkMode": "bridge",
            "PidMode": "",
            "IpcMode": "private",
            "UTSMode": "",
            "UsernsMode": "",
            "Memory": 268435456,
            "CpuShares": 512,
            "PidsLimit": 100,
            "ReadonlyRootfs": True,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
            "SecurityOpt": ["no-new-privileges"],
            "CgroupParent": "",
        },
        "Mounts": [
            {
                "Type": "volume",
                "Source": "/var/lib/docker/volumes/data/_data",
                "Destination": "/data",
                "Propagation": "",
            },
        ],
        "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
    }
    for key, value in changes.items():
        target = container["HostConfig"] if key in container["HostConfig"] else container
        target[key] = value
    return container


@dataclass
class AuditHost:
    """Defaults: a hardened host with audit rules loaded and one compliant container."""

    daemon_json: dict | None = field(
        default_factory=lambda: {
            "icc": False,
            "userns-remap": "default",
            "authorization-plugins": ["authz"],
            "log-driver": "syslog",
            "no-new-privileges": True,
            "live-restore": True,
            "userland-proxy": False,
        }
    )
    cmdline: list[str] = field(
        default_factory=lambda: [
            "/usr/bin/dockerd",
            "-H",
            "fd://",
            "--containerd=/run/containerd/containerd.sock",
        ]
    )
    info: dict = field(
        default_factory=lambda: {
            "ServerVersion": "27.5.1",
            "Driver": "overlay2",
            "LoggingDriver": "syslog",
            "DockerRootDir": "/var/lib/docker",
            "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin"],
            "Swarm": {"LocalNodeState": "inactive"},
            "ExperimentalBuild": False,
            "LiveRestoreEnabled": True,
        }
    )
    stats: dict = field(
        default_factory=lambda: {
            "/etc/docker": ("d", "root", "root", "755"),
            "/etc/docker/daemon.json": ("f", "root", "root", "644"),
            "/etc/default/docker": ("f", "root", "root", "644"),
            "/etc/containerd/config.toml": ("f", "root", "root", "644"),
            "/run/containerd": ("d", "root", "root", "711"),
            "/run/containerd/containerd.sock": ("s", "root", "root", "660"),
            "/run/docker.sock": ("s", "root", "docker", "660"),
            "/var/lib/docker": ("d", "root", "root", "710"),
            "/usr/bin/dockerd": ("f", "root", "root", "755"),
            "/usr/bin/containerd": ("f", "root", "root", "755"),
            "/usr/bin/containerd-shim-runc-v2": ("f", "root", "root", "755"),
            "/usr/bin/runc": ("f", "root", "root", "755"),
            "/lib/systemd/system/docker.service": ("f", "root", "root", "644"),
            "/lib/systemd/system/docker.socket": ("f", "root", "root", "644"),
        }
    )
    group: str | None = "docker:x:999:deploy"
    trusted: tuple[str, ...] = ("deploy",)
    mounts: list[str] = field(
        default_factory=lambda: ["/ /dev/sda1 ext4", "/var/lib/docker /dev/sdb1 xfs"]
    )
    auditctl: str | None = audit_rules(HARDENED)  # None: auditctl cannot list (a container)
    rules_files: str = ""
    containers: list[dict] | None = field(default_factory=lambda: [_container()])

    def sections(self) -> dict[str, Section]:
        files = {}
        if self.daemon_json is not None:
            files["/etc/docker/daemon.json"] = json.dumps(self.daemon_json).encode()
        stat = b"".join(
            f"{kind} {owner} {group} {mode} {path}\0".encode()
            for path, (kind, owner, group, mode) in self.stats.items()
        )
        return {
            "info": Section(0, (json.dumps(self.info) + "\n").encode()),
            "dockerd": Section(0, "\n".join(self.cmdline).encode() + b"\n"),
            "units": Section(
                0,
                b"Id=docker.service\nFragmentPath=/lib/systemd/system/docker.service\n\n"
                b"Id=docker.socket\nFragmentPath=/lib/systemd/system/docker.socket\n",
            ),
            "group": Section(0, f"{self.group}\n".encode()) if self.group else Section(2, b""),
            "files": Section(0, _tar(files)),
            "stat": Section(0, stat),
            "mounts": Section(0, "\n".join(self.mounts).encode() + b"\n"),
            "auditctl": Section(0, self.auditctl.encode())
            if self.auditctl is not None
            else Section(1, b"You must be root to run this program.\n"),
            "audit_rules": Section(0 if self.rules_files else 1, self.rules_files.encode()),
            "containers": Section(0, json.dumps(self.containers).encode())
            if self.containers is not None
            else Section(1, b"Cannot connect to the Docker daemon\n"),
        }

    def state(self) -> HostState:
        return HostState(self.sections(), self.trusted)


def container(**changes) -> dict:
    return _container(**changes)


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.uname, info.gname, info.mode = len(content), "root", "root", 0o644
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()
