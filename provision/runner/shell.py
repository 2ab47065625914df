"""Commands run as the CI runner user (no pyinfra needed: the verification uses them too)."""

from __future__ import annotations

import shlex

ROOTLESS_DOCKER = "DOCKER_HOST=unix:///run/user/$(id -u)/docker.sock "  # the user's own daemon


def as_runner(user: str, command: str, rootless: bool = False) -> str:
    """``command`` in ``user``'s login shell, with the user's rootless daemon if ``rootless``."""
    return f"runuser -l {shlex.quote(user)} -c {shlex.quote(ROOTLESS_DOCKER * rootless + command)}"
