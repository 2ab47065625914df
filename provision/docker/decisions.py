"""What the facts say the Docker deploy must change, where an operation and its description
(``descriptions``) both need to know: each takes the fact ``reader`` (``snapshot.read`` while
deciding, ``snapshot.last_read`` to describe what an operation saw).
"""

from __future__ import annotations

import json

from provision.core.snapshot import read

from . import aptsources, daemon
from .facts import BACKUP, AptSources, Backup, FileContent, Packages
from .settings import PINNED_PACKAGES, DockerSettings
from .takeover import written_here


def has_changed(meta) -> bool:
    """Whether this operation changed (or, before it ran, would change)."""
    return meta.did_change() if meta.is_complete() else meta.will_change


def any_changed(metas) -> bool:
    """Whether any of these operations changed (or, before they ran, would change)."""
    return any(map(has_changed, metas))


def pin_setting(name: str) -> str:
    """The setting that pins package ``name``."""
    return "docker_version" if name in PINNED_PACKAGES else f"docker_package_versions[{name!r}]"


def installed_engine(settings: DockerSettings, reader=read) -> str | None:
    """The installed ``docker-ce`` version (``None`` when it is not installed), as ``reader``
    (``snapshot.read``, or ``snapshot.last_read`` for what an operation saw) has it."""
    state = reader(Packages, packages=list(settings.docker_packages)).get("docker-ce")
    return state.version if state else None


def takeover_backup(path: str, stamp: str | None, reader=read) -> str | None:
    """Where a file at ``path`` that this project did not write is copied before its first
    change, for ``stamp`` (the run's UTC time); ``None``: no backup (no file, one of this
    project's form, one taken over before, or ``stamp`` is ``None``)."""
    current = reader(FileContent, path=path)
    if stamp is None or current is None or written_here(path, current.content):
        return None
    return None if reader(Backup, path=path) else f"{path}{BACKUP}{stamp}"


def wanted_daemon_config(settings: DockerSettings, reader=read) -> dict:
    """daemon.json's contents: the settings', over the keys kept from the user's own file (the
    backup of a file taken over, or the file not taken over yet) unless
    ``docker_daemon_json_keep_unmanaged`` is false."""
    config = daemon.daemon_config(settings, installed_engine(settings, reader))
    if not settings.docker_daemon_json_keep_unmanaged:
        return config
    backup = reader(Backup, path=daemon.DAEMON_JSON)
    current = reader(FileContent, path=daemon.DAEMON_JSON)
    if backup:
        original = backup[1]
    elif current and not written_here(daemon.DAEMON_JSON, current.content):
        original = current.content
    else:
        return config
    return {**daemon.unmanaged(json_or_empty(original), config), **config}


def json_or_empty(content: bytes) -> dict:
    try:
        found = json.loads(content)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def sources_removals(uris, components, keyring: str, keep: str, reader) -> list:
    """What ``repository_sources_absent`` changes, per file, from the sources ``reader``
    (``snapshot.read``, or ``snapshot.last_read`` for a report) has."""
    repository = aptsources.Repository(tuple(uris), tuple(components), keyring)
    found = reader(AptSources)
    removals = [
        aptsources.without(repository, path, current.content.decode(errors="surrogateescape"))
        for path, current in sorted(found.items())
        if path != keep
    ]
    return [removal for removal in removals if removal]


def installed_among(packages: list[str], purge: bool = False, reader=read) -> list[str]:
    """Those of ``packages`` that a removal removes: installed ones (with ``purge``, also
    those whose configuration files are all that is left)."""
    state = reader(Packages, packages=packages)
    return [
        name
        for name in packages
        if name in state and (state[name].present if purge else state[name].status[1:2] != "c")
    ]
