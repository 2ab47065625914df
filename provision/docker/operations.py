"""Operations of the Docker deploy on files, signing keys, the daemon's configuration, services
and groups (those on packages and apt are in ``apt_operations``).

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
    installed_engine,
    json_or_empty,
    sources_removals,
    takeover_backup,
    wanted_daemon_config,
)
from .facts import (
    AptSources,
    DockerData,
    Download,
    FileContent,
    Paths,
    ServiceState,
    Users,
    download_input,
)
from .files import write_file
from .settings import DockerSettings


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
