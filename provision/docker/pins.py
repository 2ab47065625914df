"""Host data giving a host back the versions its packages had before an apply: what a
rollout's rollback applies (``orchestrate.rollout.roll_out(rollback=previous_versions)``)."""

from __future__ import annotations

from .settings import PINNED_PACKAGES


def previous_versions(data, packages_from: dict[str, str]) -> dict:
    """Host data pinning every package of ``packages_from`` to its version before: the
    engine's with ``docker_version``, others with ``docker_package_versions``."""
    pinned = {}
    if "docker-ce" in packages_from:
        pinned["docker_version"] = packages_from["docker-ce"]
    own = {n: v for n, v in packages_from.items() if n not in PINNED_PACKAGES}
    if own:
        pinned["docker_package_versions"] = {**(data.get("docker_package_versions") or {}), **own}
    return pinned
