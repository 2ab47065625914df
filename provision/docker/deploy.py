"""The Docker deploys: install (Docker's install guide, idempotent) and uninstall."""

from __future__ import annotations

import time

from pyinfra import host
from pyinfra.api import DeployError, deploy

from provision.core.errors import SettingsError
from provision.core.snapshot import prefetch, read

from . import apt_operations as apt_ops
from . import operations as ops
from . import rootless
from .daemon import apt_proxy_conf, apt_proxy_login
from .distro import Target, detect
from .errors import UnsupportedHostError
from .facts import (
    AptSources,
    Backup,
    FileContent,
    OsTarget,
    Packages,
    Paths,
    ServiceState,
    Users,
)
from .hardening import AUDIT_PACKAGES, audit_rules
from .layout import (  # noqa: F401
    APT_PROXY,
    APT_PROXY_LOGIN,
    AUDIT_RULES,
    DAEMON_JSON,
    DOCKER_LOGIN,
    KEYRING,
    LEGACY_KEYRING,
    PROXY_DROPIN,
    SOURCES,
    docker_repository,
    sources_text,
)
from .preflight import check_repository
from .repository import add_repository, other_sources_absent
from .rootless_layout import USER_UNIT
from .settings import DockerSettings
from .validation import from_host_data

PREREQUISITES = ["ca-certificates", "curl"]
STALE_PATHS = [
    "/etc/apt/sources.list.d/docker.list",
    "/etc/apt/sources.list.d/download_docker_com*.list",
    "/etc/apt/trusted.gpg.d/docker*",
    "/etc/apt/keyrings/docker.gpg",  # keyrings of Docker's earlier guides
    "/usr/share/keyrings/docker-archive-keyring.gpg",
]


def host_settings() -> DockerSettings:
    """This host's settings, validated; a ``DeployError`` naming every problem otherwise."""
    try:
        return from_host_data(host.data.dict(), host.name)
    except SettingsError as error:
        raise DeployError(str(error)) from None


def host_target(settings: DockerSettings):
    """The repository this host installs from, or a ``DeployError`` before any change."""
    os_release, arch = read(OsTarget)
    try:
        return detect(
            host.name,
            os_release,
            settings.docker_arch or arch,
            settings.docker_distro,
            settings.docker_codename,
        )
    except UnsupportedHostError as error:
        raise DeployError(str(error)) from None


def install_queries(settings: DockerSettings) -> list[tuple[type, dict]]:
    """The facts ``install_docker`` reads on a converged host, to gather in one command."""
    queries = [
        (OsTarget, {}),
        (Packages, {"packages": list(settings.docker_obsolete_packages)}),
        (Paths, {"patterns": STALE_PATHS}),
        (FileContent, {"path": LEGACY_KEYRING}),
        (Packages, {"packages": PREREQUISITES}),
        (FileContent, {"path": KEYRING}),
        (FileContent, {"path": SOURCES}),
        (Packages, {"packages": list(settings.docker_packages)}),
        (Users, {"group": "docker", "users": list(settings.docker_users)}),
        (FileContent, {"path": DAEMON_JSON}),
        (FileContent, {"path": PROXY_DROPIN}),
        (FileContent, {"path": APT_PROXY}),
        (FileContent, {"path": APT_PROXY_LOGIN}),
        (FileContent, {"path": DOCKER_LOGIN}),
        *[(Backup, {"path": path}) for path in (DAEMON_JSON, PROXY_DROPIN, APT_PROXY)],
        (FileContent, {"path": AUDIT_RULES}),
    ]
    if settings.docker_audit_rules:
        queries.append((Packages, {"packages": AUDIT_PACKAGES}))
    queries.append((AptSources, {}))
    for unit in service_units(settings):
        queries.append((ServiceState, {"units": [unit]}))
    return queries + rootless.queries(settings)


def service_units(settings: DockerSettings) -> tuple[str, ...]:
    """The units ``install_docker`` manages, in the order it changes them: containerd and the
    socket before docker when starting; the socket (it would start docker again) first when
    stopping."""
    if settings.docker_service_state == "started":
        return ("containerd", "docker.socket", "docker")
    return ("docker.socket", "docker", "containerd")


def preflight(settings: DockerSettings, queries=()) -> Target:
    """Read the host in one command and check Docker's repository (``check_repository``): a
    ``DeployError`` before any change, else the first operation of the run, ``Preflight``,
    which changes nothing. Every deploy that installs calls it before its first operation.

    + queries: more facts to read in the same first command (a profile's own)
    """
    prefetch([*install_queries(settings), *queries])
    target = host_target(settings)
    apt_ops.preflight_passed(name="Preflight", summary=check_repository(settings, target))
    return target


@deploy("Install Docker Engine")
def install_docker(settings: DockerSettings | None = None, target: Target | None = None) -> None:
    """Install Docker Engine from Docker's apt repository and configure it.

    + settings: the host's settings (default: read from its data)
    + target: the repository's target from ``preflight`` when the caller ran it (a profile
      with operations of its own before Docker's), else the preflight runs first here
    """
    settings = settings or host_settings()
    target = target or preflight(settings)
    lock = settings.docker_apt_lock_timeout

    apt_ops.dpkg_repaired(
        name="Repair an interrupted dpkg",
        package_sets=[
            list(settings.docker_obsolete_packages),
            PREREQUISITES,
            list(settings.docker_packages),
        ],
        lock_timeout=lock,
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())  # names backups of taken-over files
    ops.file_content(
        name="apt's proxy", path=APT_PROXY, content=apt_proxy_conf(settings), takeover=stamp
    )
    ops.file_content(
        name="apt's proxy login",
        path=APT_PROXY_LOGIN,
        content=apt_proxy_login(settings),
        mode="0600",
    )
    ops.paths_absent(name="Remove stale Docker sources and keys", patterns=STALE_PATHS)
    ops.key_absent_from(
        name="Remove Docker's key from the legacy keyring",
        path=LEGACY_KEYRING,
        fingerprint=settings.docker_gpg_fingerprint,
    )
    repository = docker_repository(settings, target.distro, target.codename, target.arch)
    other_sources_absent(repository)
    apt_ops.packages_present(
        name="Install prerequisites", packages=PREREQUISITES, lock_timeout=lock
    )
    wanted = {
        "packages": list(settings.docker_packages),
        "pins": settings.pins(),
        "holds": settings.holds(),
        "latest": settings.docker_packages_state == "latest",
    }
    # the packages this run installs, upgrades or downgrades; apt's lists are read anew for
    # them. Debian's and Docker's scripts leave the old daemon running on upgrade: a replaced
    # one restarts below, so that the running engine is the installed one.
    replaced = apt_ops.installs(**wanted)
    add_repository(repository, lock, settings.apt_proxy, installing=bool(replaced))
    apt_ops.versions_available(
        name="Check the pinned version",
        pins=settings.pins(),
        packages=list(settings.docker_packages),
    )
    # conflicting packages (docker.io, containerd, runc, ...) go in the install's own apt
    # transaction: apt removes them only when it can install Docker's packages
    packages = apt_ops.docker_packages(
        name="Install Docker packages",
        **wanted,
        replaces=list(settings.docker_obsolete_packages),
        lock_timeout=lock,
    )
    ops.group_members(
        name="Docker group and users", group="docker", users=list(settings.docker_users)
    )
    audit_rules_installed(settings)
    ops.data_root_free(name="Check the Docker data root", settings=settings)
    config = ops.daemon_config_file(
        name="Configure the Docker daemon", settings=settings, takeover=stamp
    )
    dropin = ops.proxy_dropin_file(
        name="Docker's proxy before engine 23", settings=settings, takeover=stamp
    )
    ops.systemd_reloaded(name="Reload systemd units", after=[dropin])
    running = settings.docker_service_state == "started"
    for unit in service_units(settings):
        ops.service(
            name=f"{unit} service",
            unit=unit,
            running=running,
            enabled=settings.docker_service_enabled,
            # a running docker restarts for a new configuration; a stopped one starts with it
            restart_after=restart_causes(unit, running, [config, dropin], packages, replaced),
        )
    rootless.rootless_docker(settings)


def audit_rules_installed(settings: DockerSettings) -> None:
    """With ``docker_audit_rules``, Debian's auditd watching Docker's files (loaded when auditd
    runs); without, no rules file of this deploy."""
    rules = audit_rules(settings)
    if rules is not None:
        apt_ops.packages_present(
            name="Install auditd",
            packages=AUDIT_PACKAGES,
            lock_timeout=settings.docker_apt_lock_timeout,
        )
    written = ops.file_content(
        name="Docker's audit rules", path=AUDIT_RULES, content=rules, mode="0640"
    )
    ops.audit_rules_loaded(name="Load the audit rules", after=[written])


# the units each package's replacement restarts
RESTARTED_BY = {"docker-ce": ("docker",), "containerd.io": ("containerd", "docker")}


def restart_causes(unit: str, running: bool, config: list, packages, replaced: list[str]) -> list:
    """The operations whose change restarts a running ``unit``: docker's configuration, and
    the install that replaces its program (``replaced``: the packages it installs)."""
    if not running:
        return []
    causes = list(config) if unit == "docker" else []
    if any(unit in RESTARTED_BY.get(name, ()) for name in replaced):
        causes.append(packages)
    return causes


DATA_DIRS = ["/var/lib/docker", "/var/lib/containerd"]


@deploy("Uninstall Docker Engine")
def uninstall_docker() -> None:
    """Remove Docker's packages, repository, key and audit rules; with ``docker_purge_data``
    purge the packages and delete /var/lib/docker and /var/lib/containerd too."""
    settings = host_settings()
    lock = settings.docker_apt_lock_timeout
    if settings.docker_rootless_users:  # while their daemons' programs are still there
        rootless.user_services_absent(
            name="Stop rootless Docker services", users=list(settings.docker_rootless_users)
        )
    apt_ops.packages_absent(
        name="Remove Docker packages",
        packages=[*settings.docker_packages, "docker-ce-rootless-extras"],
        purge=settings.docker_purge_data,  # a purge may delete data, as Debian's docker.io does
        lock_timeout=lock,
    )
    ops.file_absent(name="Remove Docker's apt repository", path=SOURCES)
    ops.file_absent(name="Remove Docker's signing key", path=KEYRING)
    ops.file_absent(name="Remove Docker's repository login", path=DOCKER_LOGIN)
    rules = ops.file_absent(name="Remove Docker's audit rules", path=AUDIT_RULES)
    ops.audit_rules_loaded(name="Load the audit rules", after=[rules])
    ops.file_absent(name="Remove the rootless Docker user unit", path=USER_UNIT)
    dropin = ops.file_absent(name="Remove Docker's proxy drop-in", path=PROXY_DROPIN)
    ops.systemd_reloaded(name="Reload systemd units", after=[dropin])
    if settings.docker_purge_data:
        ops.paths_absent(name="Remove Docker data", patterns=DATA_DIRS)
