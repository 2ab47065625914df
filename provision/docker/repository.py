"""An apt repository whose signing key is pinned by fingerprint: Docker's, and any other the
profiles add (GitLab Runner's). The key is checked and written as ``signing_key`` does, the
deb822 sources name it in ``Signed-By``, and apt reads the repository when either changed or
packages are to be installed from it."""

from __future__ import annotations

from . import apt_operations as apt_ops
from . import operations as ops
from .layout import PinnedRepository


def other_sources_absent(repository: PinnedRepository):
    """The operation taking every other entry of ``repository`` out of apt's sources: a second
    entry breaks ``Signed-By``, and one with ``trusted=yes`` or another key bypasses the pin."""
    return ops.repository_sources_absent(
        name=f"Remove other sources of {repository.label}'s repository",
        uris=list(repository.mirror_uris or (repository.uri,)),
        components=list(repository.channels or (repository.components,)),
        keyring=repository.key_path,
        keep=repository.sources_path,
    )


def add_repository(
    repository: PinnedRepository,
    lock_timeout: int,
    proxy: str | None = None,
    installing: bool = False,
):
    """Operations adding ``repository``: its key, its sources, then ``apt-get update`` when
    either changed (which removes both again if apt cannot read the repository), or when
    ``installing`` (the run installs packages from it, which apt's lists may not hold)."""
    key = ops.signing_key(
        name=f"Install {repository.label}'s signing key",
        path=repository.key_path,
        url=repository.key_url,
        fingerprint=repository.fingerprint,
        proxy=proxy,
    )
    sources = ops.file_content(
        name=f"Add {repository.label}'s apt repository",
        path=repository.sources_path,
        content=repository.sources(),
    )
    changes = [key, sources]
    if repository.login_path:
        changes.append(
            ops.file_content(
                name=f"{repository.label}'s repository login",
                path=repository.login_path,
                content=repository.login,
                mode="0600",
            )
        )
    apt_ops.apt_update(
        name="Update apt lists",
        lock_timeout=lock_timeout,
        cleanup_on_failure=[repository.sources_path, repository.key_path],
        after=changes,
        repository_uri=repository.uri,
        installing=installing,
    )
