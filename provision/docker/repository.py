"""An apt repository whose signing key is pinned by fingerprint: Docker's, and any other the
profiles add (GitLab Runner's). The key is checked and written as ``signing_key`` does, the
deb822 sources name it in ``Signed-By``, and apt reads the repository only when either changed."""

from __future__ import annotations

from . import operations as ops
from .layout import PinnedRepository


def add_repository(repository: PinnedRepository, lock_timeout: int, proxy: str | None = None):
    """Operations adding ``repository``: its key, its sources, then ``apt-get update`` when
    either changed (which removes both again if apt cannot read the repository)."""
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
    ops.apt_update(
        name="Update apt lists",
        lock_timeout=lock_timeout,
        cleanup_on_failure=[repository.sources_path, repository.key_path],
        after=[key, sources],
        repository_uri=repository.uri,
    )
