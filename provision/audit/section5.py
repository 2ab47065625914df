"""Section 5, container runtime: how each running container was started (``docker inspect``)."""

from __future__ import annotations

from .model import failed, manual, not_applicable, passed
from .registry import check
from .registry import manual as manual_check

SENSITIVE = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
RUN = "Start the container"  # remediations of section 5 begin so


def _each(problem):
    """A check failing each running container for which ``problem(container, state)`` says
    what is wrong; not applicable when no container runs."""

    def run(state):
        containers = state.containers
        if containers is None:
            return failed("the running containers could not be listed")
        if not containers:
            return not_applicable("no container is running")
        wrong = []
        for container in containers:
            found = problem(container, state)
            if found:
                wrong.append(f"{_name(container)}: {found}")
        if wrong:
            return failed("; ".join(wrong))
        return passed(f"{len(containers)} running containers")

    return run


def _name(container: dict) -> str:
    return str(container.get("Name") or container.get("Id", "?")[:12]).lstrip("/")


def _host(container: dict) -> dict:
    value = container.get("HostConfig")
    return value if isinstance(value, dict) else {}


def _mounts(container: dict) -> list[dict]:
    mounts = container.get("Mounts")
    return [m for m in mounts if isinstance(m, dict)] if isinstance(mounts, list) else []


def _ports(container: dict) -> list[dict]:
    ports = (container.get("NetworkSettings") or {}).get("Ports") or {}
    bound = []
    for bindings in ports.values() if isinstance(ports, dict) else ():
        bound.extend(b for b in bindings or () if isinstance(b, dict))
    return bound


def _security_opts(container: dict) -> list[str]:
    return [str(o) for o in _host(container).get("SecurityOpt") or ()]


def _register(id, title, name, level, remediation, problem):
    check(id, title, name, level, remediation)(_each(problem))


@check(
    "5.1",
    "Ensure swarm mode is not Enabled, if not needed",
    "swarm off",
    1,
    "docker swarm leave --force on hosts that are not part of a swarm.",
)
def swarm(state):
    if not state.info.get("ServerVersion"):
        return not_applicable("the daemon is not running")
    node = (state.info.get("Swarm") or {}).get("LocalNodeState", "inactive")
    return passed("swarm mode is inactive") if node == "inactive" else failed(f"swarm: {node}")


def _apparmor(container, state):
    profile = container.get("AppArmorProfile") or ""
    return None if profile and profile != "unconfined" else f"AppArmor {profile or 'none'}"


def _apparmor_check(state):
    if not _host_has(state, "apparmor"):
        return not_applicable("the host has no AppArmor")
    return _each(_apparmor)(state)


def _host_has(state, option: str) -> bool:
    """Whether ``docker info`` lists security option ``option`` (apparmor, selinux)."""
    return any(f"name={option}" in str(o) for o in state.info.get("SecurityOptions") or ())


check(
    "5.2",
    "Ensure that, if applicable, an AppArmor Profile is enabled",
    "AppArmor profile",
    1,
    f"{RUN} without --security-opt apparmor=unconfined or --privileged.",
)(_apparmor_check)


def _selinux_check(state):
    if not _host_has(state, "selinux"):
        return not_applicable("the host has no SELinux")
    return _each(
        lambda c, s: None if any(o.startswith("label") for o in _security_opts(c)) else "no label"
    )(state)


check(
    "5.3",
    "Ensure that, if applicable, SELinux security options are set",
    "SELinux options",
    2,
    f"{RUN} with --security-opt label=...",
)(_selinux_check)

_register(
    "5.4",
    "Ensure that Linux kernel capabilities are restricted within containers",
    "capabilities",
    1,
    f"{RUN} without --cap-add (drop what it does not need: --cap-drop ALL --cap-add ...).",
    lambda c, s: (
        ("adds " + ",".join(map(str, _host(c)["CapAdd"]))) if _host(c).get("CapAdd") else None
    ),
)
_register(
    "5.5",
    "Ensure that privileged containers are not used",
    "not privileged",
    1,
    f"{RUN} without --privileged.",
    lambda c, s: "privileged" if _host(c).get("Privileged") else None,
)


def _sensitive(container, state):
    bad = [
        f"{m.get('Source')}:{m.get('Destination')}"
        for m in _mounts(container)
        if m.get("Type") == "bind" and str(m.get("Source", "")).rstrip("/") in _roots()
    ]
    return "mounts " + ", ".join(bad) if bad else None


def _roots():
    return {path.rstrip("/") for path in SENSITIVE}


_register(
    "5.6",
    "Ensure sensitive host system directories are not mounted on containers",
    "sensitive mounts",
    1,
    f"{RUN} without bind mounts of {', '.join(SENSITIVE)}.",
    _sensitive,
)
manual_check(
    "5.7",
    "Ensure sshd is not run within containers",
    "no sshd",
    1,
    "Look for sshd in each container (docker exec CONTAINER ps -e); this audit does not run "
    "commands inside containers.",
)
_register(
    "5.8",
    "Ensure privileged ports are not mapped within containers",
    "privileged ports",
    1,
    f"{RUN} publishing host ports above 1023.",
    lambda c, s: (
        ", ".join(
            f"host port {p['HostPort']}"
            for p in _ports(c)
            if str(p.get("HostPort", "")).isdigit() and int(p["HostPort"]) < 1024
        )
        or None
    ),
)
manual_check(
    "5.9",
    "Ensure that only needed ports are open on the container",
    "needed ports",
    1,
    "Review each container's published ports (docker port CONTAINER).",
)
_register(
    "5.10",
    "Ensure that the host's network namespace is not shared",
    "not host network",
    1,
    f"{RUN} without --network host.",
    lambda c, s: "host network" if _host(c).get("NetworkMode") == "host" else None,
)
_register(
    "5.11",
    "Ensure that the memory usage for containers is limited",
    "memory limit",
    1,
    f"{RUN} with --memory.",
    lambda c, s: None if _host(c).get("Memory") else "no memory limit",
)
_register(
    "5.12",
    "Ensure that CPU priority is set appropriately on containers",
    "CPU shares",
    1,
    f"{RUN} with --cpu-shares.",
    lambda c, s: None if _host(c).get("CpuShares") not in (None, 0, 1024) else "default CPU shares",
)
_register(
    "5.13",
    "Ensure that the container's root filesystem is mounted as read only",
    "read-only root",
    1,
    f"{RUN} with --read-only (and volumes or --tmpfs where it writes).",
    lambda c, s: None if _host(c).get("ReadonlyRootfs") else "writable root filesystem",
)
_register(
    "5.14",
    "Ensure that incoming container traffic is bound to a specific host interface",
    "bound ports",
    1,
    f"{RUN} publishing on one address: -p ADDRESS:PORT:PORT.",
    lambda c, s: (
        ", ".join(
            f"port {p.get('HostPort')} on all interfaces"
            for p in _ports(c)
            if p.get("HostIp") in ("", "0.0.0.0", "::", None)
        )
        or None
    ),
)


def _restart(container, state):
    policy = _host(container).get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if name == "on-failure" and not 0 < int(policy.get("MaximumRetryCount") or 0) <= 5:
        return f"on-failure with {policy.get('MaximumRetryCount') or 'unlimited'} retries"
    return f"restart {name}" if name in ("always", "unless-stopped") else None


_register(
    "5.15",
    "Ensure that the 'on-failure' container restart policy is set to '5'",
    "restart on-failure:5",
    1,
    f"{RUN} with --restart on-failure:5.",
    _restart,
)


def _namespace(key: str, what: str):
    return lambda c, s: f"host {what} namespace" if _host(c).get(key) == "host" else None


_register(
    "5.16",
    "Ensure that the host's process namespace is not shared",
    "not host PID",
    1,
    f"{RUN} without --pid host.",
    _namespace("PidMode", "PID"),
)
_register(
    "5.17",
    "Ensure that the host's IPC namespace is not shared",
    "not host IPC",
    1,
    f"{RUN} without --ipc host.",
    _namespace("IpcMode", "IPC"),
)
manual_check(
    "5.18",
    "Ensure that host devices are not directly exposed to containers",
    "host devices",
    1,
    "Review --device options (docker inspect --format '{{.HostConfig.Devices}}').",
)
manual_check(
    "5.19",
    "Ensure that the default ulimit is overwritten at runtime if needed",
    "runtime ulimit",
    1,
    "Review each container's --ulimit against its needs.",
)
_register(
    "5.20",
    "Ensure mount propagation mode is not set to shared",
    "no shared propagation",
    1,
    f"{RUN} without shared or rshared bind propagation.",
    lambda c, s: (
        ", ".join(
            f"{m.get('Destination')} {m.get('Propagation')}"
            for m in _mounts(c)
            if m.get("Propagation") in ("shared", "rshared")
        )
        or None
    ),
)
_register(
    "5.21",
    "Ensure that the host's UTS namespace is not shared",
    "not host UTS",
    1,
    f"{RUN} without --uts host.",
    _namespace("UTSMode", "UTS"),
)
_register(
    "5.22",
    "Ensure the default seccomp profile is not Disabled",
    "seccomp on",
    1,
    f"{RUN} without --security-opt seccomp=unconfined.",
    lambda c, s: (
        "seccomp unconfined"
        if any(o.replace(":", "=") == "seccomp=unconfined" for o in _security_opts(c))
        else None
    ),
)
manual_check(
    "5.23",
    "Ensure that docker exec commands are not used with the privileged option",
    "no privileged exec",
    2,
    "Review the daemon's audit log for exec --privileged; this audit reads no logs.",
)
manual_check(
    "5.24",
    "Ensure that docker exec commands are not used with the user=root option",
    "no root exec",
    2,
    "Review the daemon's audit log for exec --user root.",
)


def _cgroup_check(state):
    found = (_host(c).get("CgroupParent") for c in state.containers or ())
    parents = sorted({str(parent) for parent in found if parent})
    if parents:
        return manual(f"cgroup parents {', '.join(parents)}: confirm them")
    return _each(lambda c, s: None)(state)


check(
    "5.25",
    "Ensure that cgroup usage is confirmed",
    "container cgroup",
    1,
    f"{RUN} without --cgroup-parent unless you have confirmed the cgroup.",
)(_cgroup_check)
_register(
    "5.26",
    "Ensure that the container is restricted from acquiring additional privileges",
    "container no-new-privileges",
    1,
    "Set docker_hardening: true (no-new-privileges for every container), or start it with "
    "--security-opt no-new-privileges.",
    lambda c, s: (
        None
        if s.enabled("no-new-privileges")
        or any(
            o.replace(":", "=") in ("no-new-privileges", "no-new-privileges=true")
            for o in _security_opts(c)
        )
        else "may gain privileges"
    ),
)
_register(
    "5.27",
    "Ensure that container health is checked at runtime",
    "health check",
    1,
    f"{RUN} with --health-cmd (or give its image a HEALTHCHECK).",
    lambda c, s: None if (c.get("State") or {}).get("Health") else "no health check",
)
manual_check(
    "5.28",
    "Ensure that Docker commands always make use of the latest version of their image",
    "latest image",
    1,
    "Pull images by digest or with --pull always in your own tooling.",
)
_register(
    "5.29",
    "Ensure that the PIDs cgroup limit is used",
    "PIDs limit",
    1,
    f"{RUN} with --pids-limit.",
    lambda c, s: None if (_host(c).get("PidsLimit") or 0) > 0 else "no PIDs limit",
)
manual_check(
    "5.30",
    "Ensure that Docker's default bridge 'docker0' is not used",
    "not docker0",
    1,
    "Attach containers to user-defined networks.",
)
_register(
    "5.31",
    "Ensure that the host's user namespaces are not shared",
    "not host userns",
    1,
    f"{RUN} without --userns host.",
    _namespace("UsernsMode", "user"),
)
_register(
    "5.32",
    "Ensure that the Docker socket is not mounted inside any containers",
    "no docker.sock",
    1,
    f"{RUN} without a bind mount of the Docker socket.",
    lambda c, s: (
        "mounts the Docker socket"
        if any(str(m.get("Source")) in SOCKETS for m in _mounts(c))
        else None
    ),
)
