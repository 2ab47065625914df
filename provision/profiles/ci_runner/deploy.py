"""The CI runner profile: everything of the Docker deploy, a runner user in the docker group,
pruning on a schedule and when space runs low, and a buildx builder for the runner user."""

from __future__ import annotations

import dataclasses
import shlex

from pyinfra import host
from pyinfra.api import DeployError, FactBase, deploy

from provision.core.changes import Change
from provision.core.errors import SettingsError
from provision.core.recording import operation
from provision.core.snapshot import last_read, read
from provision.docker import apt_operations as apt_ops
from provision.docker import operations as ops
from provision.docker.deploy import host_settings, host_target, install_docker, preflight
from provision.docker.distro import REPOSITORIES
from provision.docker.facts import AptSources, FileContent, Packages, ServiceState
from provision.docker.layout import PinnedRepository
from provision.docker.repository import add_repository, other_sources_absent
from provision.docker.settings import DockerSettings

from . import prune
from .settings import RunnerSettings, runner_settings
from .shell import as_runner


class Account(FactBase):
    """``(uid, home, shell)`` of a user, ``None`` when there is no such user."""

    def command(self, user: str) -> str:
        return f"getent passwd {shlex.quote(user)} || true"

    def process(self, output: list[str]):
        fields = output[0].split(":") if output else []
        return (int(fields[2]), fields[5], fields[6]) if len(fields) == 7 else None

    @staticmethod
    def default():
        return None


class Builder(FactBase):
    """The driver of ``user``'s buildx builder ``builder``, ``None`` when there is none."""

    def command(self, user: str, builder: str, rootless: bool = False) -> str:
        inspect = f"docker buildx inspect {shlex.quote(builder)} 2>/dev/null"
        return f"{as_runner(user, inspect, rootless)} || true"

    def process(self, output: list[str]) -> str | None:
        drivers = [line.split(":", 1)[1].strip() for line in output if line.startswith("Driver:")]
        return drivers[0] if drivers else None

    @staticmethod
    def default() -> None:
        return None


def _runner_user_change(kw: dict, _name) -> Change:
    account = last_read(Account, user=kw["user"])
    if account is not None and account[0] == 0:
        return Change("", what=[f"refuse: {kw['user']} has uid 0"])
    return Change("", what=[f"create user {kw['user']} with a home and a login shell"])


@operation(describe=_runner_user_change)
def runner_user(user: str):
    """Create ``user`` with a home and a login shell; refuse a user whose uid is 0."""
    account = read(Account, user=user)
    if account is None:
        yield f"useradd --create-home --shell /bin/bash {shlex.quote(user)}"
        return
    if account[0] == 0:
        yield ops.refuse(
            f"{host.name}: ci_runner_user {user} has uid 0; CI runners must not run as root, "
            "so name another user."
        )
        return
    host.noop(f"user {user} exists")


def _buildx_builder_change(kw: dict, _name) -> Change:
    user, builder = kw["user"], kw["builder"]
    driver = last_read(Builder, user=user, builder=builder, rootless=kw.get("rootless", False))
    replace = f" in place of its {driver} builder of that name" if driver else ""
    return Change(
        "", what=[f"create buildx builder {builder} (docker-container) for {user}{replace}"]
    )


@operation(describe=_buildx_builder_change)
def buildx_builder(user: str, builder: str, rootless: bool = False):
    """A docker-container buildx builder ``builder``, the default of ``user`` (on the user's
    own daemon when ``rootless``)."""
    driver = read(Builder, user=user, builder=builder, rootless=rootless)
    if driver == "docker-container":
        host.noop(f"{user} has buildx builder {builder}")
        return
    quoted = shlex.quote(builder)
    create = f"docker buildx create --name {quoted} --driver docker-container --use"
    if driver is not None:  # another driver under that name: replace it
        create = f"docker buildx rm {quoted} && {create}"
    yield as_runner(user, create, rootless)


def host_runner_settings() -> RunnerSettings:
    try:
        return runner_settings(host.data.dict(), host.name)
    except SettingsError as error:
        raise DeployError(str(error)) from None


GITLAB_KEY = "/etc/apt/keyrings/gitlab-runner.asc"
GITLAB_SOURCES = "/etc/apt/sources.list.d/gitlab-runner.sources"
GITLAB_PACKAGES = ["gitlab-runner"]
DISTROS = tuple(REPOSITORIES)


def gitlab_repository(settings: RunnerSettings, distro: str, codename: str, arch: str):
    """GitLab Runner's apt repository, pinned to GitLab's repository signing key."""
    return PinnedRepository(
        label="GitLab Runner",
        uri=f"{settings.ci_runner_gitlab_repo_url}/{distro}",
        suite=codename,
        components="main",
        arch=arch,
        key_url=settings.ci_runner_gitlab_key_url,
        fingerprint=settings.ci_runner_gitlab_fingerprint,
        key_path=GITLAB_KEY,
        sources_path=GITLAB_SOURCES,
        mirror_uris=tuple(f"{settings.ci_runner_gitlab_repo_url}/{name}" for name in DISTROS),
    )


def runner_queries(settings: RunnerSettings) -> list[tuple[type, dict]]:
    """The facts the profile reads on a converged host, for the deploy's first command."""
    user = settings.ci_runner_user
    queries = [
        (Account, {"user": user}),
        (FileContent, {"path": prune.SCRIPT}),
        *[(FileContent, {"path": path}) for path in prune.unit_files(settings)],
        *[(ServiceState, {"units": [timer]}) for timer in prune.TIMERS],
        (
            Builder,
            {
                "user": user,
                "builder": settings.ci_runner_builder,
                "rootless": settings.ci_runner_rootless,
            },
        ),
    ]
    if settings.ci_runner_gitlab:
        queries += [
            (FileContent, {"path": GITLAB_KEY}),
            (FileContent, {"path": GITLAB_SOURCES}),
            (Packages, {"packages": GITLAB_PACKAGES}),
            (AptSources, {}),
        ]
    return queries


def install_gitlab_runner(runner: RunnerSettings, docker: DockerSettings) -> None:
    """GitLab Runner from GitLab's apt repository, through the same pinned-key code as Docker."""
    target = host_target(docker)
    repository = gitlab_repository(runner, target.distro, target.codename, target.arch)
    other_sources_absent(repository)
    add_repository(repository, docker.docker_apt_lock_timeout, docker.apt_proxy)
    apt_ops.packages_present(
        name="Install GitLab Runner",
        packages=GITLAB_PACKAGES,
        lock_timeout=docker.docker_apt_lock_timeout,
    )


def with_runner(docker: DockerSettings, runner: RunnerSettings) -> DockerSettings:
    """Docker's settings with the runner user in the docker group, or running its own rootless
    daemon with ``ci_runner_rootless``."""
    user = runner.ci_runner_user
    if runner.ci_runner_rootless:
        users = tuple(dict.fromkeys([*docker.docker_rootless_users, user]))
        return dataclasses.replace(docker, docker_rootless_users=users)
    users = tuple(dict.fromkeys([*docker.docker_users, user]))
    return dataclasses.replace(docker, docker_users=users)


@deploy("CI runner")
def install_ci_runner() -> None:
    """Install Docker for CI jobs: the runner user, pruning, and a buildx builder."""
    runner = host_runner_settings()
    docker = host_settings()
    user = runner.ci_runner_user
    settings = with_runner(docker, runner)
    target = preflight(settings, runner_queries(runner))  # before the first change
    runner_user(name="CI runner user", user=user)  # before Docker's group takes the user in
    install_docker(settings, target)
    ops.file_content(
        name="Prune script", path=prune.SCRIPT, content=prune.script(runner), mode="0755"
    )
    units = [
        ops.file_content(name=f"Unit {path.rsplit('/', 1)[1]}", path=path, content=content)
        for path, content in prune.unit_files(runner).items()
    ]
    ops.systemd_reloaded(name="Reload systemd units for pruning", after=units)
    for timer in prune.TIMERS:
        ops.service(name=timer, unit=timer, restart_after=units)
    buildx_builder(
        name="buildx builder for the runner user",
        user=user,
        builder=runner.ci_runner_builder,
        rootless=runner.ci_runner_rootless,
    )
    if runner.ci_runner_gitlab:
        install_gitlab_runner(runner, docker)
