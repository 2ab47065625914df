"""What a profile (``--profile``, or ``provision_profile`` in host or group data) selects: the
deploy that ``provision apply`` runs, the settings checked before any host is touched, and the
checks ``provision verify`` runs. Each host of a run has its own."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERIFY = Path(__file__).parents[1] / "verify"  # the suites: provision/verify/test_*.py

Check = Callable[[Mapping[str, Any], str], object]  # (host data, host name); raises SettingsError


@dataclass(frozen=True)
class Profile:
    """One kind of Docker host."""

    deploy: Callable[[], None]
    # the first gives the settings the run passes on (Docker's), the others check the profile's
    checks: tuple[Check, ...]
    suites: tuple[Path, ...]


@functools.cache
def profile(name: str) -> Profile:
    """The profile ``name`` (``docker`` or ``ci-runner``)."""
    from provision.docker.deploy import install_docker
    from provision.docker.validation import from_host_data

    if name == "ci-runner":
        from provision.profiles.ci_runner.deploy import install_ci_runner
        from provision.profiles.ci_runner.settings import runner_settings

        suites = (VERIFY / "test_docker.py", VERIFY / "test_ci_runner.py")
        return Profile(install_ci_runner, (from_host_data, runner_settings), suites)
    return Profile(install_docker, (from_host_data,), (VERIFY / "test_docker.py",))


NAMES = ("docker", "ci-runner")
SETTING = "provision_profile"  # host or group data choosing the profile, as --profile does
OWN_SETTINGS = {"ci-runner": "ci_runner_"}  # the prefix of a profile's own settings


@dataclass(frozen=True)
class Chosen:
    """Each selected host's profile: ``{host name: profile name}``."""

    names: Mapping[str, str]

    @classmethod
    def docker(cls, hosts) -> Chosen:
        """Docker's profile for every host (commands without profiles)."""
        return cls(dict.fromkeys((host.name for host in hosts), "docker"))

    def of(self, host_name: str) -> Profile:
        return profile(self.names[host_name])

    def deploy(self) -> None:
        """The current host's profile's deploy (pyinfra calls a deploy once per host)."""
        from pyinfra import host

        self.of(host.name).deploy()

    @property
    def checks(self) -> tuple[Check, Check]:
        """``Fleet.settings``' checks: each host's settings, then its profile's own."""

        def settings(data: Mapping[str, Any], host_name: str) -> object:
            return self.of(host_name).checks[0](data, host_name)

        def own(data: Mapping[str, Any], host_name: str) -> object:
            return [check(data, host_name) for check in self.of(host_name).checks[1:]]

        return settings, own

    @property
    def suites(self) -> dict[str, tuple[Path, ...]]:
        """Each host's checks."""
        return {name: self.of(name).suites for name in self.names}


def choose(hosts, name: str | None) -> Chosen:
    """Each host's profile: ``name`` (``--profile``) for all, else the one its data choose
    (``provision_profile``, host or group), else ``docker``; hosts of one run may differ.
    A profile's own settings on a host run without it are refused (``UsageError``)."""
    from provision.core.errors import UsageError
    from provision.orchestrate.hostnames import grouped

    chosen, problems = {}, []
    for host in hosts:
        value = host.data.get(SETTING)
        if value is not None and value not in NAMES:
            problems.append(
                (host.name, f"{SETTING} must be one of {', '.join(NAMES)}, got {value!r}")
            )
        chosen[host.name] = value or "docker"
    if problems:
        raise UsageError("invalid settings: " + "; ".join(grouped(problems)) + ".")
    if name is not None:
        chosen = dict.fromkeys(chosen, name)
    unused = [
        (
            host.name,
            f"{key} is a setting of the {profile} profile; set {SETTING}: {profile} or "
            f"pass --profile {profile}",
        )
        for host in hosts
        for key in host.data.dict()
        for profile, prefix in OWN_SETTINGS.items()
        if profile != chosen[host.name] and isinstance(key, str) and key.startswith(prefix)
    ]
    if unused:
        raise UsageError("invalid settings: " + "; ".join(grouped(unused)) + ".")
    return Chosen(chosen)
