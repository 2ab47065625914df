"""Typed, validated settings of the CI runner profile, read from host data (``ci_runner_*``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from provision.core.errors import SettingsError
from provision.docker.validation import NAME_RE, check_fingerprint, check_urls

GITLAB_FINGERPRINT = "F6403F6544A38863DAA0B6E03F01618A51312F3F"  # GitLab's repository key

UNTIL_RE = re.compile(r"^[0-9]+(s|m|h)$")  # what ``docker ... prune --filter until=`` takes
CALENDAR_RE = re.compile(r"^[A-Za-z0-9*:,./~ -]+$")  # a systemd OnCalendar= expression
BUILDER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class RunnerSettings:
    """What the CI runner profile adds to the Docker deploy; see docs/ci-runners.md."""

    ci_runner_user: str = "runner"
    ci_runner_rootless: bool = False
    ci_runner_prune_until: str = "24h"
    ci_runner_prune_schedule: str = "hourly"
    ci_runner_min_free_gb: int = 10
    ci_runner_builder: str = "provision"
    ci_runner_gitlab: bool = False
    ci_runner_gitlab_repo_url: str = "https://packages.gitlab.com/runner/gitlab-runner"
    ci_runner_gitlab_key_url: str = "https://packages.gitlab.com/gpg.key"
    ci_runner_gitlab_fingerprint: str = GITLAB_FINGERPRINT


RUNNER_SETTING_NAMES = tuple(f.name for f in fields(RunnerSettings))


def runner_settings(data: Mapping[str, Any], host: str = "host") -> RunnerSettings:
    """Runner settings of a host; every problem in one ``SettingsError``."""
    values = {name: data[name] for name in RUNNER_SETTING_NAMES if data.get(name) is not None}
    problems = [
        f"{name} is not a setting of the CI runner profile"
        for name in data
        if isinstance(name, str)
        and name.startswith("ci_runner_")
        and name not in RUNNER_SETTING_NAMES
    ]
    user = values.get("ci_runner_user", "runner")
    if not isinstance(user, str) or not NAME_RE.fullmatch(user) or user == "root":
        problems.append(f"ci_runner_user must be a user name other than root, got {user!r}")
    until = values.get("ci_runner_prune_until", "24h")
    if not isinstance(until, str) or not UNTIL_RE.fullmatch(until):
        problems.append(f"ci_runner_prune_until must look like 24h, 90m or 3600s, got {until!r}")
    schedule = values.get("ci_runner_prune_schedule", "hourly")
    if not isinstance(schedule, str) or not CALENDAR_RE.fullmatch(schedule):
        problems.append(
            f"ci_runner_prune_schedule must be a systemd calendar expression, got {schedule!r}"
        )
    free = values.get("ci_runner_min_free_gb", 10)
    if isinstance(free, bool) or not isinstance(free, int) or free < 0:
        problems.append(f"ci_runner_min_free_gb must be a whole number, got {free!r}")
    builder = values.get("ci_runner_builder", "provision")
    if not isinstance(builder, str) or not BUILDER_RE.fullmatch(builder):
        problems.append(f"ci_runner_builder must be a builder name, got {builder!r}")
    for name in ("ci_runner_rootless", "ci_runner_gitlab"):
        if not isinstance(values.get(name, False), bool):
            problems.append(f"{name} must be true or false, got {values[name]!r}")
    check_urls(values, ("ci_runner_gitlab_repo_url", "ci_runner_gitlab_key_url"), problems)
    check_fingerprint(values, "ci_runner_gitlab_fingerprint", GITLAB_FINGERPRINT, problems)
    if problems:
        raise SettingsError(f"{host}: " + "; ".join(problems) + ".")
    return RunnerSettings(**values)
