"""The stand-in Docker repository: Debian's own Docker builds under Docker's names and layout.

``download.docker.com`` cannot be reached from the lab, so :func:`build_repository` repackages
Debian's ``docker.io``, ``docker-cli``, ``rootlesskit``, ``containerd``, ``runc``,
``docker-buildx`` and ``docker-compose`` as ``docker-ce``, ``docker-ce-cli``,
``docker-ce-rootless-extras``, ``containerd.io``, ``docker-buildx-plugin`` and
``docker-compose-plugin``, with Docker-style versions and relationships, and lays them out
exactly like ``https://download.docker.com/linux/debian/``::

    linux/debian/gpg                                          armored public signing key
    linux/debian/dists/CODENAME/{InRelease,Release,Release.gpg}
    linux/debian/dists/CODENAME/stable/binary-ARCH/Packages{,.gz}
    linux/debian/dists/CODENAME/pool/stable/ARCH/NAME_VERSION_ARCH.deb

Every suite carries three engines: 28.5 (from sid), 26.1 (from trixie) and 20.10 (from
bookworm), so that pinning, holding, upgrading and rolling back can be tested, each with its
``docker-ce-cli`` and ``docker-ce-rootless-extras`` (Debian's rootlesskit and the rootless
scripts ``docker.io`` ships in its contrib directory). Relationships follow Docker's packaging
of that version. ``containerd.io`` comes twice: each suite's own containerd and runc, and sid's
containerd 2.1 with the suite's runc (sid's runc needs glibc 2.38, above bookworm's 2.36);
the buildx and compose plugins come from trixie and from sid. The Go binaries of sid (dockerd,
docker, containerd, the plugins) need glibc 2.34 at most and run on bookworm and trixie.

Where the stand-in differs from Docker's packages: the engine keeps Debian's maintainer scripts
(they add the ``docker`` group and enable the units; sid's start the daemon on upgrade but do
not restart it, so ``provision`` restarts a replaced daemon itself), sid's debconf question
(whether a purge deletes ``/var/lib/docker``) is dropped, dockerd reports Debian's version
(``26.1.5+dfsg1``, Docker's says ``26.1.5``), and sid moves on: a recipe meeting
other versions there than :data:`RELEASES` expects stops with a sentence saying so. The
repository is signed by a throwaway key kept in ``gnupghome``.

Where it differs from Docker's packages: the engine's files stay where Debian puts them, so
``dockerd`` is ``/usr/sbin/dockerd`` (Docker's ``docker-ce`` has ``/usr/bin/dockerd``). The
audit reads the daemon's program from the running process, and
the audit rules watch both places.

:func:`write_variant` serves a suite as Docker's repository has been at times: lacking packages
(``docker-ce`` for a new release, while ``containerd.io`` is there), or unsigned. It differs from
Docker's only in that: same layout, indexes and (when signed) key.

The result is cached: ``dest/.stamp`` holds a key over the source packages, the recipe and the
signing key, and a warm cache returns without network or parsing. :func:`repository_dir` names
the directory by the recipe, so checkouts with different recipes never replace each other's.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..debian import (
    DEBIAN_ARCHIVE_KEYRING,
    DEFAULT_MIRROR,
    Archive,
    format_stanza,
    locked,
    parse_stanzas,
    release_number,
)
from .archive import (
    _gpg,
    _gpg_agent,
    _write_indexes,
    ensure_signing_key,
    pool_dir,
    sign_release,
    write_suite,
)
from .planning import cache_key, engine_versions, needed_packages, plan
from .repackaging import repack
from .specs import COMPONENT, STAMP, RepositoryInfo, Target

log = logging.getLogger(__name__)

# The repository


def build_repository(
    dest: Path,
    cache: Path,
    gnupghome: Path,
    mirror: str = DEFAULT_MIRROR,
    suites: Sequence[str] = ("bookworm", "trixie"),
    arch: str = "amd64",
    *,
    refresh: bool = False,
    archive_keyring: Path | None = DEBIAN_ARCHIVE_KEYRING,
    say: Callable[[str], None] = lambda text: None,
) -> RepositoryInfo:
    """Build the stand-in Docker repository in ``dest`` unless an identical one is there.

    + dest: the repository's directory (``dest/linux/debian/...``); replaced atomically
    + cache: Debian indexes and ``.deb`` files, shared with other lab builders
    + gnupghome: GnuPG home holding the throwaway signing key (made on first use)
    + mirror: the Debian archive to take packages from
    + suites: Debian codenames to serve
    + arch: Debian architecture
    + refresh: fetch the Debian indexes again (otherwise cached ones are used, offline)
    + archive_keyring: keyring that verifies the Debian archive; ``None`` skips the check
    + say: called with what the build does now, and how far along it is
    """
    suites = tuple(suites)
    for suite in suites:
        release_number(suite)
    archive = Archive(mirror, cache, arch, archive_keyring)
    say("signing key and Debian package lists")
    fingerprint = ensure_signing_key(gnupghome)
    selections = {
        suite: archive.packages(suite, names, refresh=refresh)
        for suite, names in needed_packages(suites).items()
    }
    targets = plan(suites, selections)
    key = cache_key(targets, fingerprint, suites, arch)
    cached = _cached(dest, key)
    if cached:
        return cached
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked(dest.parent / f".{dest.name}.lock"):
        cached = _cached(dest, key)
        if cached:
            return cached
        started = time.monotonic()
        _remove_leftovers(dest)
        info = _build(dest, key, targets, archive, gnupghome, fingerprint, suites, arch, say)
        log.info("built the lab repository in %s in %.0f s", dest, time.monotonic() - started)
        return info


def _cached(dest: Path, key: str) -> RepositoryInfo | None:
    try:
        stamp = json.loads((dest / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("key") != key or not (dest / "linux/debian/gpg").exists():
        return None
    return RepositoryInfo(dest, stamp["fingerprint"], stamp["versions"])


def _remove_leftovers(dest: Path) -> None:
    for path in dest.parent.glob(f".{dest.name}.*-*"):
        shutil.rmtree(path, ignore_errors=True)


def _build(
    dest: Path,
    key: str,
    targets: list[Target],
    archive: Archive,
    gnupghome: Path,
    fingerprint: str,
    suites: Sequence[str],
    arch: str,
    say: Callable[[str], None],
) -> RepositoryInfo:
    new = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    try:
        repo, work = new / "linux" / "debian", new / "work"
        sources = {p.sha256: p for t in targets for p in t.sources}
        debs = {}
        for count, (sha256, package) in enumerate(sources.items(), start=1):
            say(f"downloading Debian packages {count}/{len(sources)}: {package.name}")
            debs[sha256] = archive.fetch(package)
        for suite in suites:
            pool_dir(repo, suite, arch).mkdir(parents=True)
        work.mkdir()
        built = itertools.count(1)

        def build_one(target: Target) -> dict[str, str]:
            sources = [debs[package.sha256] for package in target.sources]
            record = repack(target, sources, pool_dir(repo, target.suite, arch), work, arch)
            say(f"repackaging {next(built)}/{len(targets)} done")
            return record

        say(f"repackaging 0/{len(targets)} done")
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            records = list(pool.map(build_one, targets))
        shutil.rmtree(work)
        say("signing the repository")
        with _gpg_agent(gnupghome):
            (repo / "gpg").write_text(_gpg(gnupghome, "--armor", "--export", fingerprint))
            for suite in suites:
                mine = [r for t, r in zip(targets, records, strict=True) if t.suite == suite]
                sign_release(gnupghome, fingerprint, write_suite(repo, suite, arch, mine))
        versions = engine_versions(targets)
        stamp = {"key": key, "fingerprint": fingerprint, "versions": versions}
        (new / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
        new.chmod(0o755)
        _replace_dir(new, dest)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return RepositoryInfo(dest, fingerprint, versions)


def _replace_dir(new: Path, dest: Path) -> None:
    """Put ``new`` at ``dest``: ``dest`` is never half-built, at worst briefly missing."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old)
    else:
        new.rename(dest)


# Variants: the repository as Docker's has been at times


def write_variant(
    repo: Path,
    dest: Path,
    suite: str,
    arch: str = "amd64",
    *,
    without: Sequence[str] = (),
    gnupghome: Path | None = None,
    fingerprint: str | None = None,
) -> Path:
    """A copy of ``repo``'s ``suite`` at ``dest`` (``dest/dists/SUITE``, ``dest/gpg``) that
    lacks the packages ``without``, as Docker's repository lacked ``docker-ce`` for a new
    release for weeks (and still does for some architectures) while the suite already held
    ``containerd.io``. Signed with the lab key when ``gnupghome`` and ``fingerprint`` are given;
    unsigned otherwise, which apt refuses. The pool is shared with ``repo`` by a symbolic link.
    Return ``dest``.
    """
    source = repo / "dists" / suite
    index = source / COMPONENT / f"binary-{arch}" / "Packages"
    kept = [
        format_stanza(fields)
        for fields in parse_stanzas(index.read_text())
        if fields["Package"] not in without
    ]
    if dest.exists():
        shutil.rmtree(dest)
    dists = dest / "dists" / suite
    dists.mkdir(parents=True)
    shutil.copyfile(repo / "gpg", dest / "gpg")
    (dists / "pool").symlink_to((source / "pool").resolve())
    _write_indexes(dists, suite, arch, "\n".join(kept).encode())
    if gnupghome is not None and fingerprint is not None:
        with _gpg_agent(gnupghome):
            sign_release(gnupghome, fingerprint, dists)
    return dest
