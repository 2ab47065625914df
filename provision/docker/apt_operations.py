"""Operations of the Docker deploy on packages: apt-get, dpkg, pinned versions and holds.

Each yields commands only when a fact says a change is needed and ``host.noop`` otherwise, so
a converged host costs one short fact command per operation and nothing else.
"""

from __future__ import annotations

import shlex

from pyinfra import host

from provision.core.changes import changes_nothing
from provision.core.recording import operation, refuse
from provision.core.snapshot import read

from . import descriptions as describe
from .decisions import any_changed, installed_among, pin_setting
from .dpkg import RELEASE_RE, newest_match, version_matches
from .facts import CandidateVersions, Packages, PolicyCandidates
from .layout import apt_names


def apt_get(lock_timeout: int, *args: str) -> str:
    """An unattended apt-get command that waits up to ``lock_timeout`` s for the dpkg lock."""
    return " ".join(
        [
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "-q",
            "-y",
            "-o",
            f"DPkg::Lock::Timeout={int(lock_timeout)}",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
            *args,
        ]
    )


@operation(describe=describe.packages_absent)
def packages_absent(packages: list[str], purge: bool = False, lock_timeout: int = 300):
    """Remove the installed ones among ``packages``; ``purge`` also deletes their configuration.

    Conflicting packages are removed, not purged, as Docker's guide does: purging Debian's
    ``docker.io`` would delete /var/lib/docker, the user's images and volumes.
    """
    present = installed_among(packages, purge)
    if not present:
        host.noop(f"none of {', '.join(packages)} is installed")
        return
    yield apt_get(lock_timeout, "purge" if purge else "remove", *map(shlex.quote, present))


@operation(describe=describe.dpkg_repaired)
def dpkg_repaired(package_sets: list[list[str]], lock_timeout: int = 300):
    """Finish what an interrupted dpkg left (a killed run, a host that lost power) before apt
    is used: ``dpkg --configure -a``, then apt reinstalls half-installed packages."""
    states = [read(Packages, packages=packages) for packages in package_sets]
    interrupted = any(state[None] for state in states)
    broken = sorted({n for state in states for n, s in state.items() if n and s.broken})
    if not interrupted and not broken:
        host.noop("dpkg finished its last run")
        return
    yield dpkg_configure_pending(lock_timeout)
    yield apt_get(lock_timeout, "install", "--fix-broken")


def dpkg_configure_pending(lock_timeout: int) -> str:
    """``dpkg --configure -a``, waiting up to ``lock_timeout`` s for the dpkg lock as apt does."""
    return (
        f"end=$(($(date +%s) + {int(lock_timeout)})); "
        "while ! err=$(DEBIAN_FRONTEND=noninteractive dpkg --configure -a 2>&1 >/dev/null); do "
        'case "$err" in *lock*) if [ "$(date +%s)" -lt "$end" ]; then sleep 1; continue; fi;; '
        'esac; echo "$err" >&2; exit 1; done'
    )


@operation(describe=describe.packages_present)
def packages_present(packages: list[str], lock_timeout: int = 300):
    """Install missing ``packages`` from the distribution (apt-get update first)."""
    state = read(Packages, packages=packages)
    missing = [name for name in packages if name not in state or not state[name].installed]
    if not missing:
        host.noop(f"{', '.join(packages)} installed")
        return
    yield apt_get(lock_timeout, "update")
    yield apt_get(lock_timeout, "install", "--no-install-recommends", *map(shlex.quote, missing))


@operation(describe=describe.apt_update, is_idempotent=False)
def apt_update(
    lock_timeout: int = 300,
    cleanup_on_failure: list[str] | None = None,
    after=(),
    repository_uri: str | None = None,
    installing: bool = False,
):
    """``apt-get update`` when one of the ``after`` operations changed (always if none given),
    or when ``installing``: the run installs from the repository, and apt's lists may lack it
    (a run stopped before its update, lists removed) or predate the wanted version.

    It fails when apt warns about ``repository_uri`` too (``W:`` or ``E:`` lines naming it:
    a signature apt cannot verify, lists it could not fetch), with apt's own lines: apt would
    otherwise go on with old lists. When the ``after`` operations changed, a failure removes
    ``cleanup_on_failure``, so no half-configured repository breaks apt.
    """
    changed = not after or any_changed(after)
    if not changed and not installing:
        host.noop("the repository did not change")
        return
    command = apt_get(lock_timeout, "update")
    if repository_uri:
        names = " ".join(f"-e {shlex.quote(name)}" for name in apt_names(repository_uri))
        command = (
            f"out=$({command} 2>&1); s=$?; printf '%s\\n' \"$out\"; "
            f"bad=$(printf '%s\\n' \"$out\" | grep -E '^(W|E): ' | grep -F {names}); "
            'if [ -n "$bad" ]; then echo "$bad" >&2; [ "$s" -ne 0 ] || s=1; fi; [ "$s" -eq 0 ]'
        )
    if cleanup_on_failure and changed:
        paths = " ".join(shlex.quote(path) for path in cleanup_on_failure)
        command = f"{{ {command}; }} || {{ status=$?; rm -f {paths}; exit $status; }}"
    yield command


@operation(describe=describe.docker_packages)
def docker_packages(
    packages: list[str],
    pins: dict[str, str],
    holds: list[str],
    latest: bool = False,
    replaces: list[str] = (),
    lock_timeout: int = 300,
):
    """Install Docker's packages, pinned to versions where ``pins`` says, ``holds`` held.

    With ``latest``, unheld packages are also upgraded: unpinned ones to the repository's
    candidate, those pinned to a partial release (``27.5``) to its newest version. Installed
    packages of ``replaces`` (those that conflict with Docker's) are removed, not purged, in
    the same apt transaction (``apt-get install docker-ce ... docker.io-``): apt removes them
    only when it can install their replacements, and an install it cannot do keeps them.
    """
    state = read(Packages, packages=packages)
    install = installs(packages, pins, holds, latest)
    removed = installed_among(list(replaces)) if replaces else []
    held = {name for name in packages if name in state and state[name].held}
    to_hold = set(holds)
    if not install and not removed and held == to_hold:
        host.noop(f"{', '.join(packages)} installed as wanted")
        return
    targets = []
    for name in install:
        target, error = _with_version(name, pins.get(name))
        if error:
            yield refuse(error)
            return
        targets.append(target)
    if held - to_hold:
        yield "apt-mark unhold " + " ".join(map(shlex.quote, sorted(held - to_hold)))
    if targets or removed:
        yield apt_get(
            lock_timeout,
            "install",
            "--no-install-recommends",
            "--allow-downgrades",
            "--allow-change-held-packages",
            *targets,
            *[shlex.quote(f"{name}-") for name in removed],
        )
    if to_hold - held or (targets and to_hold):
        yield "apt-mark hold " + " ".join(map(shlex.quote, sorted(to_hold)))


def installs(
    packages: list[str], pins: dict[str, str], holds: list[str], latest: bool = False
) -> list[str]:
    """The packages :func:`docker_packages` installs, upgrades or downgrades."""
    state = read(Packages, packages=packages)
    install = [
        name
        for name in packages
        if name not in state
        or not state[name].installed
        or (name in pins and not version_matches(state[name].version, pins[name]))
    ]
    if latest:
        candidates = read(PolicyCandidates, packages=packages)
        install += [
            name
            for name in packages
            if name not in install
            and name not in pins
            and name not in holds  # a hold keeps the installed version
            and name in candidates
            and state[name].version != candidates[name]
        ]
        install += [  # a release pin (27.5) moves to the newest of its release
            name
            for name in packages
            if name not in install
            and name not in holds
            and name in pins
            and RELEASE_RE.fullmatch(pins[name])
            and newest_match(read(CandidateVersions, package=name), pins[name])
            not in (None, state[name].version)
        ]
    return install


@operation(describe=changes_nothing)
def preflight_passed(summary: str):
    """Change nothing: the preflight (``preflight.check_repository``) passed before this run's
    first operation; ``summary`` says what it found."""
    host.noop(summary)
    yield from ()


@operation(describe=changes_nothing)
def versions_available(pins: dict[str, str], packages: list[str]):
    """Refuse, before any package changes, a pinned version the repository does not have.

    ``packages`` are read with the pinned ones (the deploy's list: one fact for both).
    """
    if not pins:
        host.noop("no version pinned")
        return
    state = read(Packages, packages=packages)
    for name, wanted in pins.items():
        if name in state and version_matches(state[name].version, wanted):
            continue
        _, error = _with_version(name, wanted)
        if error:
            yield refuse(error)
            return
    host.noop(f"pinned versions available: {pins or 'none pinned'}")


def _with_version(name: str, wanted: str | None) -> tuple[str, str | None]:
    """``name=FULL_VERSION`` for apt-get, or an error listing the versions there are."""
    if not wanted:
        return shlex.quote(name), None
    available = read(CandidateVersions, package=name)
    version = newest_match(available, wanted)
    if version is None:
        return "", pin_unavailable(name, wanted, available)
    return shlex.quote(f"{name}={version}"), None


def pin_unavailable(name: str, wanted: str, available: list[str]) -> str:
    """The sentence refusing a pinned version that ``available`` lacks."""
    return (
        f"{host.name}: {pin_setting(name)} {wanted} is not in the repository for {name}; "
        f"available: {', '.join(available) or 'none (is the repository configured?)'}."
    )
