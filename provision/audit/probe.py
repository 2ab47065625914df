"""What the audit reads from a host, in one command (the verify probe's framing: each section's
output comes back in one base64 tar, so nothing a host prints can forge another section)."""

from __future__ import annotations

import shlex

from provision.docker.layout import DAEMON_JSON
from provision.verify.probe import files_command

# files whose owner and mode section 3 checks, and whose audit rules section 1 looks for
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
STATTED = (
    "/etc/docker",
    DAEMON_JSON,
    "/etc/default/docker",
    "/etc/sysconfig/docker",
    "/etc/containerd/config.toml",
    "/run/containerd",
    "/run/containerd/containerd.sock",
    "/run/docker.sock",
    "/var/lib/docker",
    "/usr/bin/dockerd",
    "/usr/sbin/dockerd",
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim",
    "/usr/bin/containerd-shim-runc-v1",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/runc",
    *(f"{d}/{unit}" for d in UNIT_DIRS for unit in ("docker.service", "docker.socket")),
)
READ = (DAEMON_JSON, "/etc/default/docker", "/etc/sysconfig/docker")  # their content too
AUDIT_RULES = "/etc/audit/rules.d"
STAT_FORMAT = r"%y %u %g %m %p\0"  # type, owner, group, octal mode, path; NUL-terminated


def commands(tls_paths=()) -> dict[str, str]:
    """``{section: shell command}``: everything the checks of sections 1, 2, 3 and 5 need.

    ``tls_paths``: certificate and key files the settings name, stat-ed beside the fixed ones
    (anything under /etc/docker is stat-ed anyway).
    """
    paths = " ".join(shlex.quote(p) for p in (*STATTED, *tls_paths))
    return {
        "info": "docker info --format '{{json .}}'",
        # the system daemon's command line (rootless users' daemons are dockerd processes too)
        "dockerd": (
            "p=$(systemctl show --property=MainPID --value docker.service) && "
            '[ "${p:-0}" != 0 ] && tr "\\000" "\\n" <"/proc/$p/cmdline"'
        ),
        "units": "systemctl show --property=Id,FragmentPath -- docker.service docker.socket",
        "group": "getent group docker",
        "files": files_command(READ),
        "stat": (
            f"find {paths} -maxdepth 0 -printf '{STAT_FORMAT}' 2>/dev/null; "
            f"find /etc/docker -mindepth 1 -printf '{STAT_FORMAT}' 2>/dev/null; true"
        ),
        "mounts": "findmnt -rn -o TARGET,SOURCE,FSTYPE",
        "auditctl": "auditctl -l",
        "audit_rules": f"cat /etc/audit/audit.rules {AUDIT_RULES}/*.rules",
        "containers": (
            "ids=$(docker ps -q) || exit 1; "
            "if [ -n \"$ids\" ]; then docker inspect $ids; else echo '[]'; fi"
        ),
    }
