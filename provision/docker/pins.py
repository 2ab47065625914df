"""Host data giving a host back the versions its packages had before an apply: what a
rollout's rollback applies (``orchestrate.rollout.roll_out(rollback=previous_versions)``)."""

from __future__ import annotations

from .settings import PINNED_PACKAGES


def release(version: str) -> str:
    """The upstream major release of a Debian version: ``1:2.1.9-1`` -> ``2``."""
    return version.split(":", 1)[-1].split(".", 1)[0]


def not_taken_back(moves: dict[str, tuple[str, str | None]]) -> dict[str, str]:
    """Packages a rollback leaves where the apply moved them, with the reason: containerd.io
    across a major release (an older containerd cannot start a container the newer one ran
    until its runtime state under /run is gone, and the older engine runs on the newer one)."""
    return {
        name: f"kept at {after}: going back to {before} across a major release of containerd "
        "leaves the containers the newer one ran unable to start until a reboot"
        for name, (before, after) in moves.items()
        if name == "containerd.io" and before and after and release(before) != release(after)
    }


def previous_versions(data, moves: dict[str, tuple[str, str | None]]) -> tuple[dict, dict]:
    """Host data pinning every package of ``moves`` (name -> (before, after)) to its version
    before: the engine's with ``docker_version``, others with ``docker_package_versions``;
    and the packages ``not_taken_back`` keeps, with why."""
    kept = not_taken_back(moves)
    pinned = {}
    if "docker-ce" in moves:
        pinned["docker_version"] = moves["docker-ce"][0]
    own = {
        n: before for n, (before, _) in moves.items() if n not in PINNED_PACKAGES and n not in kept
    }
    if own:
        pinned["docker_package_versions"] = {**(data.get("docker_package_versions") or {}), **own}
    return pinned, kept
