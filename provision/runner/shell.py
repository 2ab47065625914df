"""Commands run as the CI runner user (no pyinfra needed: the verification uses them too)."""

from __future__ import annotations

import shlex

# the user's own daemon, for every command of the line (``if``, pipes and lists too)
ROOTLESS_DOCKER = "export DOCKER_HOST=unix:///run/user/$(id -u)/docker.sock; "


def as_runner(user: str, command: str, rootless: bool = False) -> str:
    """``command`` in ``user``'s login shell, with the user's rootless daemon if ``rootless``."""
    return f"runuser -l {shlex.quote(user)} -c {shlex.quote(ROOTLESS_DOCKER * rootless + command)}"
