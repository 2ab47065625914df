"""What ``--profile`` selects: the deploy that ``provision apply`` runs, the settings checked
before any host is touched, and the checks ``provision verify`` runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERIFY = Path(__file__).parents[1] / "verify"  # the suites: provision/verify/test_*.py


@dataclass(frozen=True)
class Profile:
    """One kind of Docker host."""

    deploy: Callable[[], None]
    # each raises SettingsError; the first gives the settings the run passes on (Docker's)
    checks: tuple[Callable[[Mapping[str, Any], str], object], ...]
    suites: tuple[Path, ...]


def profile(name: str) -> Profile:
    """The profile ``name`` (``docker`` or ``ci-runner``)."""
    from provision.docker.deploy import install_docker
    from provision.docker.settings import from_host_data

    if name == "ci-runner":
        from provision.profiles.ci_runner.deploy import install_ci_runner
        from provision.profiles.ci_runner.settings import runner_settings

        suites = (VERIFY / "test_docker.py", VERIFY / "test_ci_runner.py")
        return Profile(install_ci_runner, (from_host_data, runner_settings), suites)
    return Profile(install_docker, (from_host_data,), (VERIFY / "test_docker.py",))


NAMES = ("docker", "ci-runner")
SETTING = "provision_profile"  # host or group data choosing the profile, as --profile does
OWN_SETTINGS = {"ci-runner": "ci_runner_"}  # the prefix of a profile's own settings


def choose(hosts, name: str | None) -> str:
    """The profile of a run: ``name`` (``--profile``), else the one the hosts' data choose
    (``provision_profile``), else ``docker``. Hosts choosing different profiles, and a profile's
    own settings on a host run without it, are refused (``UsageError``)."""
    from provision.core.errors import UsageError
    from provision.orchestrate.hostnames import grouped, ranges

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
    if name is None:
        kinds = {kind: [n for n, k in chosen.items() if k == kind] for kind in set(chosen.values())}
        if len(kinds) > 1:
            said = "; ".join(f"{ranges(names)}: {kind}" for kind, names in sorted(kinds.items()))
            raise UsageError(
                f"the selected hosts choose different profiles ({said}; {SETTING}); run each "
                "profile's hosts on their own with --limit."
            )
        name = next(iter(kinds), "docker")
    unused = [
        (
            host.name,
            f"{key} is a setting of the {profile} profile; set {SETTING}: {profile} or "
            f"pass --profile {profile}",
        )
        for host in hosts
        for key in host.data.dict()
        for profile, prefix in OWN_SETTINGS.items()
        if profile != name and isinstance(key, str) and key.startswith(prefix)
    ]
    if unused:
        raise UsageError("invalid settings: " + "; ".join(grouped(unused)) + ".")
    return name
