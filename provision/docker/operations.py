"""Operations of the Docker deploy.

Each yields commands only when a fact says a change is needed and ``host.noop`` otherwise, so
a converged host costs one short fact command per operation and nothing else.
"""

from __future__ import annotations

import base64
import json
import re
import shlex

from pyinfra import host

from . import keyring
from .calls import operation  # pyinfra's, recording each call for change reports
from .dpkg import version_matches  # noqa: F401 (re-exported)
from .facts import (
    CandidateVersions,
    Download,
    FileContent,
    FilesMentioning,
    Packages,
    Paths,
    PolicyCandidates,
    ServiceState,
    Users,
)
from .snapshot import read

# host name -> the sentence an operation refused with (read by the fleet runner)
REFUSALS: dict[str, str] = {}


def refuse(message: str) -> str:
    """A command that fails this host with ``message`` and changes nothing."""
    REFUSALS[host.name] = message
    return f"echo {shlex.quote(message)} >&2; exit 1"


def apt_get(lock_timeout: int, *args: str) -> str:
    """An unattended apt-get command that waits up to ``lock_timeout`` s for the dpkg lock."""
    return " ".join(
        [
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "-q",
            "-y",
            "-o",
            f"DPkg::Lock::Timeout={lock_timeout}",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
            *args,
        ]
    )


def write_file_command(path: str, content: bytes, mode: str) -> str:
    """Write ``content`` atomically (temp file, chmod, rename) in one command."""
    data = base64.b64encode(content).decode()
    directory = shlex.quote(path.rsplit("/", 1)[0] or "/")
    tmp = shlex.quote(f"{path}.provision-tmp")
    return (
        f"install -d -m 0755 {directory} && echo {data} | base64 -d > {tmp} && "
        f"chmod {mode} {tmp} && chown root:root {tmp} && mv -f {tmp} {shlex.quote(path)}"
    )


@operation()
def packages_absent(packages: list[str], purge: bool = False, lock_timeout: int = 300):
    """Remove the installed ones among ``packages``; ``purge`` also deletes their configuration.

    Conflicting packages are removed, not purged, as Docker's guide does: purging Debian's
    ``docker.io`` would delete /var/lib/docker, the user's images and volumes.
    """
    state = read(Packages, packages=packages)
    present = [
        name
        for name in packages
        if name in state and (state[name].present if purge else state[name].status[1:2] != "c")
    ]
    if not present:
        host.noop(f"none of {', '.join(packages)} is installed")
        return
    yield apt_get(lock_timeout, "purge" if purge else "remove", *map(shlex.quote, present))


@operation()
def paths_absent(patterns: list[str]):
    """Remove what matches shell ``patterns`` (stale sources and keys, data directories)."""
    found = read(Paths, patterns=patterns)
    if not found:
        host.noop("no stale Docker sources or keys")
        return
    for path in found:  # a mount point (as /var/lib/docker may be) keeps its empty directory
        quoted = shlex.quote(path)
        yield f"rm -rf {quoted} 2>/dev/null || find {quoted} -mindepth 1 -delete"


@operation()
def sources_mentioning_absent(text: str, keep: str):
    """Remove other sources of the same repository (they break Signed-By).

    Files in sources.list.d are removed; lines in /etc/apt/sources.list are commented out.
    """
    stale = [path for path in read(FilesMentioning, text=text) if path != keep]
    if not stale:
        host.noop(f"no other sources for {text}")
        return
    for path in stale:
        if path == "/etc/apt/sources.list":
            pattern = re.escape(text).replace("/", "\\/")
            yield f"sed -i -E '/^[^#]*{pattern}/s/^/# /' /etc/apt/sources.list"
        else:
            yield f"rm -f {shlex.quote(path)}"


@operation()
def key_absent_from(path: str, fingerprint: str):
    """Remove key ``fingerprint`` from the legacy keyring ``path`` (apt-key's trusted.gpg)."""
    current = read(FileContent, path=path)
    try:
        present = current is not None and fingerprint in keyring.primary_fingerprints(
            current.content
        )
    except keyring.NotAKeyError:
        present = False
    if not present:
        host.noop(f"{path} does not hold key {fingerprint}")
        return
    remaining = keyring.without_key(current.content, fingerprint)
    if remaining:
        yield write_file_command(path, remaining, "0" + current.mode)
    else:
        yield f"rm -f {shlex.quote(path)}"


@operation()
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


@operation()
def packages_present(packages: list[str], lock_timeout: int = 300):
    """Install missing ``packages`` from the distribution (apt-get update first)."""
    state = read(Packages, packages=packages)
    missing = [name for name in packages if name not in state or not state[name].installed]
    if not missing:
        host.noop(f"{', '.join(packages)} installed")
        return
    yield apt_get(lock_timeout, "update")
    yield apt_get(lock_timeout, "install", "--no-install-recommends", *map(shlex.quote, missing))


@operation()
def signing_key(path: str, url: str, fingerprint: str):
    """Install the repository key at ``path`` (0644) if its fingerprint is ``fingerprint``.

    The key is downloaded by the host, checked on the controller and written only when it
    matches: a wrong or broken key leaves nothing behind.
    """
    current = read(FileContent, path=path)
    if (
        current
        and current.mode == "644"
        and current.owner == "root:root"
        and _has_fingerprint(current.content, fingerprint)
    ):
        host.noop(f"{path} holds key {fingerprint}")
        return
    data, error = host.get_fact(Download, url=url)
    if data is None:
        yield refuse(
            f"{host.name}: cannot download the Docker signing key from {url} "
            f"({error}); check docker_repo_url / docker_gpg_key_url."
        )
        return
    try:
        found = keyring.primary_fingerprints(data)
    except keyring.NotAKeyError:
        yield refuse(
            f"{host.name}: {url} returned {keyring.describe(data)}, not an OpenPGP key; "
            "nothing was written; check docker_gpg_key_url."
        )
        return
    if found != [fingerprint]:
        yield refuse(
            f"{host.name}: the key at {url} has fingerprint {', '.join(found)}, expected only "
            f"{fingerprint}; nothing was written; check docker_gpg_fingerprint or the mirror."
        )
        return
    yield write_file_command(path, data, "0644")


def _has_fingerprint(content: bytes, fingerprint: str) -> bool:
    try:
        return keyring.primary_fingerprints(content) == [fingerprint]
    except keyring.NotAKeyError:
        return False


@operation()
def file_content(path: str, content: str, mode: str = "0644"):
    """Ensure ``path`` holds exactly ``content`` with ``mode``, owned by root."""
    current = read(FileContent, path=path)
    wanted = content.encode()
    if (
        current
        and current.content == wanted
        and current.mode == mode.lstrip("0")
        and current.owner == "root:root"
    ):
        host.noop(f"{path} is up to date")
        return
    yield write_file_command(path, wanted, mode)


@operation()
def file_absent(path: str):
    """Remove ``path`` if it exists."""
    if not read(FileContent, path=path):
        host.noop(f"{path} is absent")
        return
    yield f"rm -f {shlex.quote(path)}"


@operation(is_idempotent=False)
def apt_update(lock_timeout: int = 300, cleanup_on_failure: list[str] | None = None, after=()):
    """``apt-get update`` when one of the ``after`` operations changed (always if none given).

    On failure ``cleanup_on_failure`` is removed, so no half-configured repository breaks apt.
    """
    if after and not any_changed(after):
        host.noop("the repository did not change")
        return
    command = apt_get(lock_timeout, "update")
    if cleanup_on_failure:
        paths = " ".join(shlex.quote(path) for path in cleanup_on_failure)
        command = f"{command} || {{ status=$?; rm -f {paths}; exit $status; }}"
    yield command


def any_changed(metas) -> bool:
    """Whether any of these operations changed (or, before they ran, would change)."""
    return any(m.did_change() if m.is_complete() else m.will_change for m in metas)


@operation()
def docker_packages(
    packages: list[str],
    pins: dict[str, str],
    holds: list[str],
    latest: bool = False,
    lock_timeout: int = 300,
):
    """Install Docker's packages, pinned to versions where ``pins`` says, ``holds`` held.

    With ``latest``, unpinned, unheld packages are also upgraded to the repository's candidate.
    """
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
    held = {name for name in packages if name in state and state[name].held}
    to_hold = set(holds)
    if not install and held == to_hold:
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
        yield "apt-mark unhold " + " ".join(sorted(held - to_hold))
    if targets:
        yield apt_get(
            lock_timeout,
            "install",
            "--no-install-recommends",
            "--allow-downgrades",
            "--allow-change-held-packages",
            *targets,
        )
    if to_hold - held or (targets and to_hold):
        yield "apt-mark hold " + " ".join(sorted(to_hold))


@operation()
def versions_available(pins: dict[str, str]):
    """Refuse, before any package changes, a pinned version the repository does not have."""
    if not pins:
        host.noop("no version pinned")
        return
    state = read(Packages, packages=list(pins))
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
    matches = [version for version in available if version_matches(version, wanted)]
    if not matches:
        return "", pin_unavailable(name, wanted, available)
    return shlex.quote(f"{name}={matches[0]}"), None


def pin_unavailable(name: str, wanted: str, available: list[str]) -> str:
    """The sentence refusing a ``docker_version`` that ``available`` lacks."""
    return (
        f"{host.name}: docker_version {wanted} is not in the repository for {name}; "
        f"available: {', '.join(available) or 'none (is the repository configured?)'}."
    )


@operation()
def group_members(group: str, users: list[str]):
    """Create ``group`` if needed and add each of ``users`` (which must exist) to it."""
    members, missing = read(Users, group=group, users=users)
    if missing:
        yield refuse(
            f"{host.name}: docker_users names {', '.join(missing)}, but no such "
            "user exists on the host; create the user first or remove it."
        )
        return
    absent = [user for user in users if user not in (members or set())]
    if members is not None and not absent:
        host.noop(f"group {group} exists with {', '.join(users) or 'its members'}")
        return
    if members is None:
        yield f"groupadd --system {shlex.quote(group)}"
    for user in absent:
        yield f"usermod -aG {shlex.quote(group)} {shlex.quote(user)}"


@operation()
def service(unit: str, running: bool = True, enabled: bool = True, restart_after=()):
    """Ensure ``unit`` is running/stopped and enabled/disabled.

    It is restarted when one of the ``restart_after`` operations changed (a config file).
    """
    active, is_enabled = read(ServiceState, units=[unit])[unit]
    restart = bool(restart_after) and any_changed(restart_after)
    commands = []
    if enabled and is_enabled != "enabled":
        commands.append(f"systemctl enable {unit}")
    elif not enabled and is_enabled == "enabled":
        commands.append(f"systemctl disable {unit}")
    if running and (restart or active != "active"):
        commands.append(f"systemctl {'restart' if active == 'active' else 'start'} {unit}")
    elif not running and active == "active":
        commands.append(f"systemctl stop {unit}")
    if not commands:
        host.noop(f"{unit} is {active} and {is_enabled}")
    yield from commands


def daemon_json(options: dict) -> str:
    """The daemon.json text for ``options`` (stable order, so reruns compare equal)."""
    return json.dumps(options, indent=2, sort_keys=True) + "\n"
