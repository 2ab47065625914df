"""Operations of the Docker deploy.

Each yields commands only when a fact says a change is needed and ``host.noop`` otherwise, so
a converged host costs one short fact command per operation and nothing else.
"""

from __future__ import annotations

import shlex

from pyinfra import host

from provision.core.changes import changes_nothing
from provision.core.recording import operation, refuse
from provision.core.snapshot import fresh, read

from . import aptsources, daemon, keyring, logins
from . import descriptions as describe
from .decisions import (
    any_changed,
    installed_among,
    installed_engine,
    json_or_empty,
    pin_setting,
    sources_removals,
    takeover_backup,
    wanted_daemon_config,
)
from .dpkg import RELEASE_RE, newest_match, version_matches  # noqa: F401 (re-exported)
from .facts import (
    AptSources,
    CandidateVersions,
    DockerData,
    Download,
    FileContent,
    Packages,
    Paths,
    PolicyCandidates,
    ServiceState,
    Users,
    download_input,
)
from .files import write_file  # noqa: F401 (the one file writer, re-exported)
from .layout import apt_names
from .settings import DockerSettings


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


@operation(describe=describe.paths_absent)
def paths_absent(patterns: list[str]):
    """Remove what matches ``patterns`` (``DIR/NAME-GLOB``, matched by ``find``: stale sources
    and keys, data directories)."""
    found = read(Paths, patterns=patterns)
    if not found:
        host.noop("no stale Docker sources or keys")
        return
    for path in found:  # a mount point (as /var/lib/docker may be) keeps its empty directory
        quoted = shlex.quote(path)
        yield f"rm -rf {quoted} 2>/dev/null || find {quoted} -mindepth 1 -delete"


@operation(describe=describe.repository_sources_absent)
def repository_sources_absent(uris: list[str], components: list[str], keyring: str, keep: str):
    """Take a repository's entries out of every sources file but ``keep`` (a second entry
    breaks ``Signed-By``; one with ``trusted=yes`` or another key bypasses the pinned key).

    ``uris`` and ``components`` name the repository (``aptsources.Repository``). Only its
    entries go: they are commented out, a file that holds nothing else is removed, and every
    other entry, on the same host name or not, stays as it is.
    """
    removals = sources_removals(uris, components, keyring, keep, read)
    if not removals:
        host.noop(f"no other sources for {', '.join(map(aptsources.shown, uris))}")
        return
    for removal in removals:
        if removal.content is None:
            yield f"rm -f {shlex.quote(removal.path)}"
        else:
            mode = read(AptSources)[removal.path].mode
            yield from write_file(
                removal.path, removal.content.encode("utf-8", "surrogateescape"), mode
            )


@operation(describe=describe.key_absent_from)
def key_absent_from(path: str, fingerprint: str):
    """Remove key ``fingerprint`` from the legacy keyring ``path`` (apt-key's trusted.gpg)."""
    current = read(FileContent, path=path)
    if current is None or fingerprint not in keyring.binary_primary_fingerprints(current.content):
        host.noop(f"{path} does not hold key {fingerprint}")
        return
    remaining = keyring.without_key(current.content, fingerprint)
    if remaining:
        yield from write_file(path, remaining, current.mode)
    else:
        yield f"rm -f {shlex.quote(path)}"


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


@operation(describe=describe.signing_key)
def signing_key(path: str, url: str, fingerprint: str, proxy: str | None = None):
    """Install the repository key at ``path`` (0644): exactly one public key, ``fingerprint``.

    The host downloads the key; the controller checks it packet by packet and writes it
    re-armored from the checked packets, so the host trusts that key and nothing else. A
    download that is anything more or less is refused and nothing is written.
    """
    current = read(FileContent, path=path)
    if current and current.mode == "644" and current.owner == "root:root":
        if keyring.is_canonical(current.content, fingerprint):
            host.noop(f"{path} holds only key {fingerprint}")
            return
    key, error = fetched_key(url, fingerprint, proxy)
    if key is None:
        yield refuse(error)
        return
    yield from write_file(path, key, "0644")


def fetched_key(url: str, fingerprint: str, proxy: str | None) -> tuple[bytes | None, str]:
    """The key at ``url`` as the host downloads it with apt's downloader (through ``proxy``),
    checked and re-armored from its checked packets; else ``None`` and the sentence refusing
    it."""
    shown = logins.without_login(url)
    data, error = fresh(Download, url=url, _stdin=download_input(url, proxy))
    if data is None:
        return None, (
            f"{host.name}: cannot download the Docker signing key from {shown} ({error}); "
            "check docker_repo_url / docker_gpg_key_url; nothing was written."
        )
    try:
        return keyring.checked_key(data, fingerprint).armored(), ""
    except keyring.NotAKeyError as problem:
        return None, (
            f"{host.name}: {shown} returned {problem}, not exactly one OpenPGP public key with "
            f"fingerprint {fingerprint}; nothing was written; check docker_gpg_key_url, "
            "docker_gpg_fingerprint or the mirror."
        )


def ensure_file(path: str, wanted: bytes | None, mode: str = "0644", takeover: str | None = None):
    """Commands, or a noop, making ``path`` hold ``wanted`` with ``mode``, owned by root
    (``None``: no file at ``path``). With ``takeover`` (the run's UTC stamp), a file not
    written by this project is first backed up beside itself (``takeover_backup``)."""
    current = read(FileContent, path=path)
    backup = takeover_backup(path, takeover)
    if wanted is None:
        if current is None:
            host.noop(f"{path} is absent")
            return
        if backup:
            yield f"cp -p {shlex.quote(path)} {shlex.quote(backup)}"
        yield f"rm -f {shlex.quote(path)}"
        return
    if (
        current
        and current.content == wanted
        and current.mode == mode.lstrip("0")
        and current.owner == "root:root"
    ):
        host.noop(f"{path} is up to date")
        return
    if backup:
        yield f"cp -p {shlex.quote(path)} {shlex.quote(backup)}"
    yield from write_file(path, wanted, mode)


@operation(describe=describe.file_content)
def file_content(path: str, content: str | None, mode: str = "0644", takeover: str | None = None):
    """Ensure ``path`` holds exactly ``content`` with ``mode``, owned by root (``None``: no
    file); with ``takeover``, back up a file this project did not write first."""
    yield from ensure_file(path, None if content is None else content.encode(), mode, takeover)


@operation(describe=describe.file_absent)
def file_absent(path: str):
    """Remove ``path`` if it exists."""
    yield from ensure_file(path, None)


@operation(describe=describe.daemon_config_file)
def daemon_config_file(settings: DockerSettings, takeover: str | None = None):
    """daemon.json for ``settings`` and the engine installed now (read after the install),
    with the keys no setting writes kept from the daemon.json this project took over."""
    config = wanted_daemon_config(settings)
    yield from ensure_file(
        daemon.DAEMON_JSON,
        daemon.daemon_json(config).encode(),
        daemon.mode(settings, config),
        takeover=takeover,
    )


@operation(describe=describe.proxy_dropin_file)
def proxy_dropin_file(settings: DockerSettings, takeover: str | None = None):
    """The systemd drop-in with ``docker_proxy`` for engines before 23.0 (absent otherwise)."""
    content = daemon.proxy_dropin(settings, installed_engine(settings))
    wanted = None if content is None else content.encode()
    yield from ensure_file(daemon.PROXY_DROPIN, wanted, daemon.mode(settings), takeover=takeover)


@operation(describe=describe.systemd_reloaded, is_idempotent=False)
def systemd_reloaded(after=()):
    """``systemctl daemon-reload`` when one of the ``after`` operations changed a unit file."""
    if not any_changed(after):
        host.noop("no unit file changed")
        return
    yield "systemctl daemon-reload"


@operation(describe=describe.audit_rules_loaded, is_idempotent=False)
def audit_rules_loaded(after=()):
    """``augenrules --load`` when one of the ``after`` operations changed a rules file and
    auditd runs (where it cannot, as in a container, the rules wait on disk for its start)."""
    if not any_changed(after):
        host.noop("no audit rules changed")
        return
    yield "if systemctl is-active --quiet auditd; then augenrules --load; fi"


@operation(describe=changes_nothing)
def data_root_free(settings: DockerSettings):
    """Refuse a new data root while the current one holds images, containers or volumes:
    nothing is ever moved or deleted. ``docker_data_root_force`` starts empty anyway."""
    current = read(FileContent, path=daemon.DAEMON_JSON)
    wanted = daemon.data_root(wanted_daemon_config(settings))
    if current is None or daemon.data_root(json_or_empty(current.content)) == wanted:
        host.noop(f"Docker's data root stays {wanted}")
        return
    found = read(DockerData)
    if found is None or found.root == wanted or not found.holds_data:
        host.noop(f"Docker's data root can move to {wanted}: nothing is left behind")
        return
    if settings.docker_data_root_force:
        host.noop(f"Docker's data root moves to {wanted}; {found.root} is kept as it is")
        return
    yield refuse(
        f"{host.name}: docker_data_root is {wanted}, but the current data root {found.root} "
        f"holds {found.summary()}, which would not move along; move them first, or set "
        "docker_data_root_force to start empty (nothing is deleted)."
    )


@operation(describe=describe.apt_update, is_idempotent=False)
def apt_update(
    lock_timeout: int = 300,
    cleanup_on_failure: list[str] | None = None,
    after=(),
    repository_uri: str | None = None,
):
    """``apt-get update`` when one of the ``after`` operations changed (always if none given).

    It fails when apt warns about ``repository_uri`` too (``W:`` or ``E:`` lines naming it:
    a signature apt cannot verify, lists it could not fetch), with apt's own lines: apt would
    otherwise go on with old lists. On failure ``cleanup_on_failure`` is removed, so no
    half-configured repository breaks apt.
    """
    if after and not any_changed(after):
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
    if cleanup_on_failure:
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


@operation(describe=describe.group_members)
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


@operation(describe=describe.service)
def service(unit: str, running: bool = True, enabled: bool = True, restart_after=()):
    """Ensure ``unit`` is running/stopped and enabled/disabled.

    It is restarted when one of the ``restart_after`` operations changed (a config file).
    """
    active, is_enabled = read(ServiceState, units=[unit]).get(unit, ("unknown", "unknown"))
    restart = bool(restart_after) and any_changed(restart_after)
    commands, quoted = [], shlex.quote(unit)
    if enabled and is_enabled != "enabled":
        commands.append(f"systemctl enable {quoted}")
    elif not enabled and is_enabled == "enabled":
        commands.append(f"systemctl disable {quoted}")
    if running and (restart or active != "active"):
        # a deliberate (re)start is no crash loop: clear systemd's start rate limit first
        verb = "restart" if active == "active" else "start"
        commands.append(f"systemctl reset-failed {quoted}; systemctl {verb} {quoted}")
    elif not running and active == "active":
        commands.append(f"systemctl stop {quoted}")
    if not commands:
        host.noop(f"{unit} is {active} and {is_enabled}")
    yield from commands
