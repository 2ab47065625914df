"""Section 2, daemon configuration: what dockerd runs with, from daemon.json, its command line
and ``docker info``."""

from __future__ import annotations

from .model import failed, manual, not_applicable, passed
from .registry import check
from .registry import manual as manual_check

DAEMON = "docker_daemon_options"
LOCAL_LOG_DRIVERS = ("json-file", "local", "none")
TLS_FILES = ("tlscacert", "tlscert", "tlskey")


def _no_daemon(state):
    return None if state.info.get("ServerVersion") else not_applicable("the daemon is not running")


manual_check(
    "2.1",
    "Run the Docker daemon as a non-root user, if possible",
    "rootless daemon",
    1,
    "Where containers can run rootless, list their users in docker_rootless_users.",
)


@check(
    "2.2",
    "Ensure network traffic is restricted between containers on the default bridge",
    "icc",
    1,
    f'Set {DAEMON}: {{"icc": false}} (docker_hardening leaves it on: containers on the '
    "default bridge could no longer talk; give them user-defined networks first).",
)
def icc(state):
    if state.enabled("icc") is False:
        return passed("icc is false")
    return failed("icc is not set to false: containers on the default bridge reach each other")


@check(
    "2.3",
    "Ensure the logging level is set to 'info'",
    "log-level",
    1,
    f"Remove log-level from {DAEMON}, or set it to info.",
)
def log_level(state):
    level = state.option("log-level")
    if level in (None, "info"):
        return passed(f"log-level is {level or 'unset (info)'}")
    return failed(f"log-level is {level}")


@check(
    "2.4",
    "Ensure Docker is allowed to make changes to iptables",
    "iptables",
    1,
    f"Remove iptables: false from {DAEMON}.",
)
def iptables(state):
    if state.enabled("iptables") is False:
        return failed("iptables is false")
    return passed("iptables is not disabled")


@check(
    "2.5",
    "Ensure insecure registries are not used",
    "insecure registries",
    1,
    "Empty docker_insecure_registries (and insecure-registries in docker_daemon_options); "
    "give registries TLS certificates instead.",
)
def insecure_registries(state):
    registries = state.option("insecure-registries") or []
    if isinstance(registries, str):
        registries = [registries]
    if registries:
        return failed(f"insecure registries: {', '.join(map(str, registries))}")
    return passed("no insecure registries")


@check(
    "2.6",
    "Ensure aufs storage driver is not used",
    "no aufs",
    1,
    f"Use overlay2 (the default): remove storage-driver from {DAEMON}.",
)
def no_aufs(state):
    missing = _no_daemon(state)
    if missing:
        return missing
    driver = state.info.get("Driver", "")
    return failed("storage driver aufs") if driver == "aufs" else passed(f"storage driver {driver}")


@check(
    "2.7",
    "Ensure TLS authentication for Docker daemon is configured",
    "TLS on TCP",
    1,
    f"Remove tcp:// hosts from {DAEMON}, or set tlsverify, tlscacert, tlscert and tlskey "
    "there too.",
)
def tls(state):
    hosts = state.option("hosts") or []
    tcp = [str(h) for h in hosts if str(h).startswith("tcp://")]
    if not tcp:
        return not_applicable("the daemon listens on no TCP socket")
    missing = [name for name in ("tlsverify", *TLS_FILES) if not _set(state, name)]
    if missing:
        return failed(f"{', '.join(tcp)} without {', '.join(missing)}")
    return passed(f"{', '.join(tcp)} with tlsverify")


def _set(state, name: str) -> bool:
    if name == "tlsverify":
        return bool(state.enabled(name))
    return bool(state.option(name))


manual_check(
    "2.8",
    "Ensure the default ulimit is configured appropriately",
    "default ulimit",
    1,
    f"Decide each container's limits; set default-ulimits in {DAEMON} if one default fits.",
)


@check(
    "2.9",
    "Enable user namespace support",
    "userns-remap",
    2,
    f'Set {DAEMON}: {{"userns-remap": "default"}} (docker_hardening leaves it off: images '
    "that need root's files or host namespaces break, and existing images are pulled again).",
)
def userns(state):
    remap = state.option("userns-remap")
    return passed(f"userns-remap is {remap}") if remap else failed("userns-remap is not set")


@check(
    "2.10",
    "Ensure the default cgroup usage has been confirmed",
    "cgroup-parent",
    2,
    f"Leave cgroup-parent out of {DAEMON} unless you have confirmed the cgroup it names.",
)
def cgroup_parent(state):
    parent = state.option("cgroup-parent")
    if parent:
        return manual(f"cgroup-parent is {parent}: confirm it")
    return passed("cgroup-parent is the default")


@check(
    "2.11",
    "Ensure base device size is not changed until needed",
    "base device size",
    2,
    f"Remove dm.basesize from storage-opts in {DAEMON}.",
)
def base_size(state):
    opts = state.option("storage-opts") or []
    sized = [str(o) for o in opts if str(o).startswith("dm.basesize")]
    return failed(", ".join(sized)) if sized else passed("dm.basesize is not set")


@check(
    "2.12",
    "Ensure that authorization for Docker client commands is enabled",
    "authorization plugin",
    2,
    f"Install an authorization plugin and name it in authorization-plugins of {DAEMON} "
    "(docker_hardening cannot: the plugin and its policy are yours to choose).",
)
def authorization(state):
    plugins = state.option("authorization-plugins") or []
    if plugins:
        return passed(f"authorization plugins: {', '.join(map(str, plugins))}")
    return failed("no authorization plugin")


@check(
    "2.13",
    "Ensure centralized and remote logging is configured",
    "remote logging",
    2,
    "Set docker_log_driver to a driver that sends logs off the host (syslog, gelf, fluentd, "
    "journald forwarded by the host), with docker_log_opts naming the server.",
)
def remote_logging(state):
    driver = state.info.get("LoggingDriver") or state.option("log-driver") or "json-file"
    if driver in LOCAL_LOG_DRIVERS:
        return failed(f"log driver {driver} keeps logs on the host")
    return passed(f"log driver {driver}")


@check(
    "2.14",
    "Ensure containers are restricted from acquiring new privileges",
    "no-new-privileges",
    1,
    f'Set docker_hardening: true (or {DAEMON}: {{"no-new-privileges": true}}).',
)
def no_new_privileges(state):
    if state.enabled("no-new-privileges"):
        return passed("no-new-privileges is true")
    return failed("no-new-privileges is not set")


@check(
    "2.15",
    "Ensure live restore is enabled",
    "live-restore",
    1,
    f'Set docker_hardening: true (or {DAEMON}: {{"live-restore": true}}).',
)
def live_restore(state):
    if state.info.get("LiveRestoreEnabled") or state.enabled("live-restore"):
        return passed("live-restore is enabled")
    return failed("live-restore is not enabled")


@check(
    "2.16",
    "Ensure Userland Proxy is Disabled",
    "userland-proxy",
    1,
    f'Set docker_hardening: true (or {DAEMON}: {{"userland-proxy": false}}).',
)
def userland_proxy(state):
    if state.enabled("userland-proxy") is False:
        return passed("userland-proxy is false")
    return failed("userland-proxy is not disabled")


manual_check(
    "2.17",
    "Ensure that a daemon-wide custom seccomp profile is applied if appropriate",
    "seccomp profile",
    2,
    f"If Docker's default seccomp profile does not fit, name yours in seccomp-profile of {DAEMON}.",
)


@check(
    "2.18",
    "Ensure that experimental features are not implemented in production",
    "experimental",
    1,
    f"Remove experimental: true from {DAEMON}.",
)
def experimental(state):
    if state.info.get("ExperimentalBuild") or state.enabled("experimental"):
        return failed("experimental features are on")
    return passed("experimental features are off")
