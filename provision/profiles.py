"""What ``--profile`` selects: the deploy that ``provision apply`` runs, the settings checked
before any host is touched, and the checks ``provision verify`` runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERIFY = Path(__file__).with_name("verify")


@dataclass(frozen=True)
class Profile:
    """One kind of Docker host."""

    deploy: Callable[[], None]
    check: Callable[[Mapping[str, Any], str], object]  # raises SettingsError
    suites: tuple[Path, ...]


def profile(name: str) -> Profile:
    """The profile ``name`` (``docker`` or ``ci-runner``)."""
    from provision.docker.deploy import install_docker
    from provision.docker.settings import from_host_data

    if name == "ci-runner":
        from provision.runner.deploy import install_ci_runner
        from provision.runner.settings import runner_settings

        def check(data: Mapping[str, Any], host: str) -> object:
            return runner_settings(data, host)

        suites = (VERIFY / "test_docker.py", VERIFY / "test_ci_runner.py")
        return Profile(install_ci_runner, check, suites)
    return Profile(install_docker, from_host_data, (VERIFY / "test_docker.py",))


NAMES = ("docker", "ci-runner")
