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

import contextlib
import fnmatch
import functools
import gzip
import hashlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .debian import (
    DEBIAN_ARCHIVE_KEYRING,
    DEFAULT_MIRROR,
    Archive,
    DebianPackage,
    compare_versions,
    format_stanza,
    locked,
    parse_stanzas,
    release_number,
)
from .errors import LabError
from .system import run

log = logging.getLogger(__name__)

# Bump when the code that builds packages changes (the specs below are keyed by themselves).
RECIPE_VERSION = "5"
COMPONENT = "stable"
SIGNING_UID = "provision lab repository <lab@provision.invalid>"
MAINTAINER = "provision lab <lab@provision.invalid>"
# xz level for the rebuilt packages: level 1 builds five times faster than the default 6 for
# about 15% larger files, which no one notices on the lab bridge.
XZ_LEVEL = "1"
STAMP = ".stamp"
DPKG_BUILD = ("dpkg-deb", "--root-owner-group", "-Zxz", f"-z{XZ_LEVEL}", "--build")

# The docker CLI, its completions and manual pages: until 26.1 Debian shipped them in docker.io
# (sid's docker-cli carries them), Docker's docker-ce-cli carries them.
CLI_FILES = (
    "usr/bin/docker",
    "usr/share/man/man1/*",
    "usr/share/man/man5/*",
    "usr/share/bash-completion/completions/docker",
    "usr/share/fish/vendor_completions.d/docker.fish",
    "usr/share/zsh/vendor-completions/_docker",
)
# Lintian overrides name the Debian package; they mean nothing under another name.
ALWAYS_DROP = ("usr/share/lintian/*",)
# Dependencies on Debian's names, as Docker's packages spell them.
DEPENDENCY_RENAMES = {
    "containerd": "containerd.io (>= 1.6)",
    "runc": "containerd.io (>= 1.6)",
    "docker.io": "docker-ce-cli",
    "docker-cli": "docker-ce-cli",
    # sid splits tini's static build (docker-init points to it) out of tini; bookworm's and
    # trixie's tini ship it
    "tini-static": "tini",
}
CONTROL_ORDER = (
    "Package",
    "Version",
    "Architecture",
    "Maintainer",
    "Installed-Size",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Provides",
    "Enhances",
    "Section",
    "Priority",
    "Multi-Arch",
    "Homepage",
    "Description",
)
_DEBCONF = ("config", "templates")
_MAINTAINER_FILES = ("preinst", "postinst", "prerm", "postrm", "triggers", *_DEBCONF)


@dataclass(frozen=True)
class PackageSpec:
    """How one Docker package is made from Debian packages.

    + name: Docker's package name
    + sources: Debian packages merged into it; the first gives scripts and metadata
    + summary: first line of the description
    + source_suite: suite the sources come from; ``None`` means the suite being built
    + local_sources: those of ``sources`` that come from the suite being built all the same
    + upstream: the upstream version the first source must have (sid moves on)
    + debconf: debconf questions of the first source that are dropped (Docker asks none)
    + epoch: Docker's epoch (``5`` for the engine and the CLI)
    + distro_suffix: append ``~debian.N~CODENAME`` to the version, as Docker does except for
      ``containerd.io``
    + keep: fnmatch patterns of the paths to keep (empty: all)
    + drop: fnmatch patterns of the paths to remove
    + moves: ``(from, to)`` paths renamed once the files are selected
    + scripts: keep the first source's maintainer scripts and conffiles
    + depends: Docker's own dependencies, listed first
    + keep_depends: names of the inherited dependencies to keep (``None``: all)
    + recommends, conflicts, breaks, replaces, provides, enhances: Docker's, instead of Debian's
    """

    name: str
    sources: tuple[str, ...]
    summary: str
    source_suite: str | None = None
    local_sources: tuple[str, ...] = ()
    upstream: str | None = None
    debconf: tuple[str, ...] = ()
    epoch: str = ""
    distro_suffix: bool = True
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    moves: tuple[tuple[str, str], ...] = ()
    scripts: bool = True
    depends: tuple[str, ...] = ()
    keep_depends: tuple[str, ...] | None = None
    recommends: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    breaks: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    enhances: tuple[str, ...] = ()


@dataclass(frozen=True)
class Release:
    """What Docker's packaging declared for one engine release (docker/docker-ce-packaging,
    ``deb/common/control``), and the Debian suite its parts come from."""

    source_suite: str
    conflicts: tuple[str, ...]  # of docker-ce and docker-ce-cli alike
    cli_recommends: tuple[str, ...]
    rootless_recommends: tuple[str, ...]
    containerd: str = "1.6"  # docker-ce's lower bound on containerd.io
    upstream: str | None = None  # the engine's upstream version, where the suite moves on
    debconf: tuple[str, ...] = ()  # docker.io's debconf questions, dropped


# 20.10 (branch 20.10) still listed the lxc-docker era's names; 26.1 (master, mid 2024) did not;
# 28.5 (October 2025) asks for containerd.io 1.7.27 or newer. No docker-ce-cli conflicts with
# Debian's docker-cli: Docker added that in June 2026.
RELEASES = (
    Release(
        source_suite="trixie",
        conflicts=("docker (<< 1.5~)", "docker-engine", "docker.io"),
        cli_recommends=("docker-buildx-plugin", "docker-compose-plugin"),
        rootless_recommends=("slirp4netns (>= 0.4.0)",),
    ),
    Release(
        source_suite="bookworm",
        conflicts=(
            "docker (<< 1.5~)",
            "docker-engine",
            "docker-engine-cs",
            "docker.io",
            "lxc-docker",
            "lxc-docker-virtual-package",
        ),
        cli_recommends=(),
        rootless_recommends=("slirp4netns (>= 0.4.0)",),
    ),
    Release(
        source_suite="sid",
        conflicts=("docker (<< 1.5~)", "docker-engine", "docker.io"),
        cli_recommends=("docker-buildx-plugin", "docker-compose-plugin"),
        rootless_recommends=("slirp4netns (>= 0.4.0)",),
        containerd="1.7.27",
        upstream="28.5.2",
        debconf=("docker.io/purge-data",),
    ),
)
CONTRIB = "usr/share/docker.io/contrib"
ROOTLESS_SCRIPTS = ("dockerd-rootless.sh", "dockerd-rootless-setuptool.sh")


def _engine(release: Release) -> PackageSpec:
    return PackageSpec(
        name="docker-ce",
        sources=("docker.io",),
        summary="Docker: the open-source application container engine",
        source_suite=release.source_suite,
        upstream=release.upstream,
        debconf=release.debconf,
        epoch="5",
        drop=(*CLI_FILES, *(f"{CONTRIB}/{script}" for script in ROOTLESS_SCRIPTS)),
        depends=(f"containerd.io (>= {release.containerd})", "docker-ce-cli", "iptables", "tini"),
        # Docker's list minus git (large) and apparmor (the lab's containers cannot load
        # profiles); Debian's needrestart (it can prompt during upgrades) is not Docker's.
        recommends=(
            "ca-certificates",
            "docker-ce-rootless-extras",
            "pigz",
            "procps",
            "xz-utils",
        ),
        conflicts=release.conflicts,
        replaces=("docker-engine",),
    )


def _cli(release: Release, source: str, keep: tuple[str, ...] = ()) -> PackageSpec:
    return PackageSpec(
        name="docker-ce-cli",
        sources=(source,),
        summary="Docker CLI: the open-source application container engine",
        source_suite=release.source_suite,
        upstream=release.upstream,
        epoch="5",
        keep=keep,
        scripts=False,
        keep_depends=("libc6",),
        recommends=release.cli_recommends,
        conflicts=release.conflicts,
        breaks=("docker-ce (<< 5:0)",),
        replaces=("docker-ce (<< 5:0)",),
    )


def _rootless_extras(release: Release) -> PackageSpec:
    """Docker's file list: rootlesskit, rootlesskit-docker-proxy and the two scripts in
    /usr/bin; the scripts come from the engine's own docker.io, so they match its dockerd."""
    return PackageSpec(
        name="docker-ce-rootless-extras",
        sources=("docker.io", "rootlesskit"),
        summary="Rootless support for Docker.",
        source_suite=release.source_suite,
        upstream=release.upstream,
        epoch="5",
        keep=(
            "usr/bin/rootlesskit",
            "usr/bin/rootlesskit-docker-proxy",
            *(f"{CONTRIB}/{script}" for script in ROOTLESS_SCRIPTS),
            "usr/share/doc/docker.io/copyright",
            "usr/share/doc/rootlesskit/copyright",
        ),
        moves=tuple((f"{CONTRIB}/{script}", f"usr/bin/{script}") for script in ROOTLESS_SCRIPTS),
        scripts=False,
        depends=("dbus-user-session",),
        keep_depends=("libc6",),
        recommends=release.rootless_recommends,
        conflicts=("rootlesskit",),
        breaks=("rootlesskit",),
        replaces=("rootlesskit",),
        enhances=("docker-ce",),
    )


def _containerd_io(source_suite: str | None, upstream: str | None) -> PackageSpec:
    """containerd and runc in one package; runc always from the suite being built."""
    return PackageSpec(
        name="containerd.io",
        sources=("containerd", "runc"),
        summary="An open and reliable container runtime",
        source_suite=source_suite,
        local_sources=("runc",),
        upstream=upstream,
        distro_suffix=False,
        conflicts=("containerd", "runc"),
        replaces=("containerd", "runc"),
        provides=("containerd", "runc"),
    )


def _buildx(source_suite: str, upstream: str | None) -> PackageSpec:
    return PackageSpec(
        name="docker-buildx-plugin",
        sources=("docker-buildx",),
        summary="Docker Buildx cli plugin.",
        source_suite=source_suite,
        upstream=upstream,
        conflicts=("docker-buildx",),
        replaces=("docker-buildx",),
        enhances=("docker-ce-cli",),
    )


def _compose(source_suite: str, upstream: str | None) -> PackageSpec:
    return PackageSpec(
        name="docker-compose-plugin",
        sources=("docker-compose",),
        summary="Docker Compose (V2) plugin for the Docker CLI.",
        source_suite=source_suite,
        upstream=upstream,
        # Docker's package ships the plugin only; /usr/bin/docker-compose would clash with
        # bookworm's docker-compose 1.x, which Docker's plugin lives beside.
        drop=("usr/bin/docker-compose",),
        conflicts=("docker-compose (>= 2~)",),
        replaces=("docker-compose (>= 2~)",),
        enhances=("docker-ce-cli",),
    )


SPECS: tuple[PackageSpec, ...] = (
    *(_engine(release) for release in RELEASES),
    _cli(RELEASES[0], "docker-cli"),
    # 20.10's docker.io carries the CLI: split it out, the engine above drops it.
    _cli(RELEASES[1], "docker.io", keep=(*CLI_FILES, "usr/share/doc/docker.io/*")),
    _cli(RELEASES[2], "docker-cli"),
    *(_rootless_extras(release) for release in RELEASES),
    *(_containerd_io(suite, upstream) for suite, upstream in ((None, None), ("sid", "2.1.9"))),
    *(_buildx(suite, upstream) for suite, upstream in (("trixie", None), ("sid", "0.29.1"))),
    *(_compose(suite, upstream) for suite, upstream in (("trixie", None), ("sid", "2.40.3"))),
)


@dataclass(frozen=True)
class RepositoryInfo:
    """A built repository: where it is, its signing key, and the engine versions per suite."""

    path: Path
    fingerprint: str
    versions: dict[str, list[str]]


@dataclass(frozen=True)
class Target:
    """One package to build: a spec for one suite, with its resolved Debian sources."""

    spec: PackageSpec
    suite: str
    sources: tuple[DebianPackage, ...]
    glibc: str

    @property
    def version(self) -> str:
        return docker_version(
            upstream_version(self.sources[0].version),
            self.suite,
            epoch=self.spec.epoch,
            distro_suffix=self.spec.distro_suffix,
        )

    def filename(self, arch: str) -> str:
        return f"{self.spec.name}_{self.version.partition(':')[2] or self.version}_{arch}.deb"


# Versions


def upstream_version(debian_version: str) -> str:
    """The upstream part of a Debian version, without epoch, revision or repack suffix.

    ``26.1.5+dfsg1-9+deb13u1+b1`` -> ``26.1.5``; ``1.6.20~ds1-1+deb12u3`` -> ``1.6.20``.
    """
    version = debian_version.partition(":")[2] if ":" in debian_version else debian_version
    version = version.rpartition("-")[0] or version
    return re.sub(r"(?:[~+](?:dfsg|ds|really)\d*)+$", "", version)


def docker_version(
    upstream: str, codename: str, epoch: str = "", distro_suffix: bool = True
) -> str:
    """Docker's version string: ``5:26.1.5-1~debian.12~bookworm``, or ``1.7.24-1``."""
    suffix = f"~debian.{release_number(codename)}~{codename}" if distro_suffix else ""
    return f"{epoch + ':' if epoch else ''}{upstream}-1{suffix}"


# Relationships

# name[:arch] [(op version)]
_RELATION = re.compile(
    r"^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?$"
)


def parse_relations(value: str) -> list[str]:
    """A relationship field as a list of normalised clauses."""
    return [" ".join(clause.split()) for clause in value.split(",") if clause.strip()]


def relation_name(clause: str) -> str | None:
    """The package a clause is about; ``None`` for alternatives (``a | b``)."""
    match = _RELATION.match(clause)
    return match.group(1) if match else None


def _lower_bound(clause: str) -> str | None:
    match = _RELATION.match(clause)
    return match.group(3) if match and match.group(2) == ">=" else None


def merge_relations(clauses: Iterable[str]) -> list[str]:
    """Merge clauses that only ask for a package, or for a minimum version of it.

    The first place of each package is kept, with the strictest ``>=`` bound; other clauses
    (alternatives, ``<<``, ``=``...) are only de-duplicated.
    """
    merged: dict[str, str] = {}
    for clause in clauses:
        name = relation_name(clause)
        plain = name is not None and (clause == name or _lower_bound(clause) is not None)
        key = name if plain else clause
        if key not in merged or _stricter(clause, merged[key]):
            merged[key] = clause
    return list(merged.values())


def _stricter(clause: str, current: str) -> bool:
    new, old = _lower_bound(clause), _lower_bound(current)
    if new is None:
        return False
    return old is None or compare_versions(new, old) > 0


def rewrite_depends(
    inherited: Sequence[str],
    own: Iterable[str],
    leading: Sequence[str] = (),
    keep: Sequence[str] | None = None,
) -> list[str]:
    """Debian's dependencies as Docker's package declares them.

    Dependencies on the package's own sources go (containerd.io holds runc), ``keep`` limits
    the inherited names, Debian's names become Docker's (:data:`DEPENDENCY_RENAMES`), and
    ``leading`` (Docker's own list) comes first.
    """
    own = set(own)
    clauses = []
    for clause in inherited:
        name = relation_name(clause)
        if name in own or (keep is not None and name not in keep):
            continue
        clauses.append(DEPENDENCY_RENAMES.get(name, clause) if name else clause)
    return merge_relations([*leading, *clauses])


def libc_bound(clauses: Iterable[str]) -> str | None:
    """The ``libc6 (>= X)`` bound of a dependency list."""
    return next((_lower_bound(c) for c in clauses if relation_name(c) == "libc6"), None)


def relax_libc(clauses: Iterable[str], needed: str) -> list[str]:
    """Lower the ``libc6`` bound to ``needed``: what the binaries really use."""
    return [f"libc6 (>= {needed})" if relation_name(c) == "libc6" else c for c in clauses]


def required_glibc(root: Path) -> str | None:
    """The newest ``GLIBC_x.y`` symbol version any ELF file under ``root`` needs."""
    if not shutil.which("readelf"):
        raise LabError("readelf is needed to check glibc symbol versions; install binutils.")
    newest = None
    for path in _files(root):
        if path.is_symlink() or not _is_elf(path):
            continue
        needs = run(["readelf", "--version-info", "--wide", str(path)]).stdout
        for version in re.findall(r"Name: GLIBC_([0-9.]+)", needs.partition("Version needs")[2]):
            if newest is None or compare_versions(version, newest) > 0:
                newest = version
    return newest


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(4) == b"\x7fELF"


# Control files


def control_fields(target: Target, sources: Sequence[dict[str, str]], arch: str) -> dict[str, str]:
    """The new ``DEBIAN/control`` of ``target`` from its sources' control fields (sizes aside)."""
    spec, first = target.spec, sources[0]
    own = spec.sources
    inherited = [clause for fields in sources for clause in _relations(fields, "Depends")]
    pre_depends = rewrite_depends(_relations(first, "Pre-Depends"), own, keep=spec.keep_depends)
    origin = " and ".join(f"{package.name} {package.version}" for package in target.sources)
    fields = {
        "Package": spec.name,
        "Version": target.version,
        "Architecture": first.get("Architecture", arch),
        "Maintainer": MAINTAINER,
        "Pre-Depends": ", ".join(pre_depends),
        "Depends": ", ".join(rewrite_depends(inherited, own, spec.depends, spec.keep_depends)),
        "Recommends": ", ".join(spec.recommends),
        "Conflicts": ", ".join(spec.conflicts),
        "Breaks": ", ".join(spec.breaks),
        "Replaces": ", ".join(spec.replaces),
        "Provides": ", ".join(spec.provides),
        "Enhances": ", ".join(spec.enhances),
        "Section": first.get("Section", ""),
        "Priority": first.get("Priority", ""),
        "Multi-Arch": first.get("Multi-Arch", ""),
        "Homepage": first.get("Homepage", ""),
        "Description": (
            f"{spec.summary}\n Repackaged for the provision lab from Debian "
            f"{_source_suite(target)}'s {origin}."
        ),
    }
    return {key: fields[key] for key in CONTROL_ORDER if fields.get(key)}


def _relations(fields: dict[str, str], name: str) -> list[str]:
    return parse_relations(fields.get(name, ""))


def _source_suite(target: Target) -> str:
    return target.spec.source_suite or target.suite


def installed_size(root: Path) -> int:
    """``Installed-Size`` in KiB, counted like dpkg-gencontrol (DEBIAN excluded)."""
    total = 0
    for path in _entries(root):
        stat = path.lstat()
        total += math.ceil(stat.st_size / 1024) if path.is_file() and not path.is_symlink() else 1
    return total


def _entries(root: Path) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        if Path(directory) == root:
            dirs[:] = [d for d in dirs if d != "DEBIAN"]
        for name in (*dirs, *files):
            yield Path(directory) / name


def _files(root: Path) -> Iterator[Path]:
    return (p for p in _entries(root) if p.is_symlink() or not p.is_dir())


# Repackaging


def _wanted(relative: str, spec: PackageSpec) -> bool:
    if spec.keep and not any(fnmatch.fnmatchcase(relative, p) for p in spec.keep):
        return False
    return not any(fnmatch.fnmatchcase(relative, p) for p in (*spec.drop, *ALWAYS_DROP))


def select_files(root: Path, spec: PackageSpec) -> None:
    """Remove what ``spec`` does not want, and the directories that leaves empty."""
    entries = list(_entries(root))
    full = {p for p in entries if p.is_dir() and not p.is_symlink() and any(p.iterdir())}
    for path in sorted(entries, key=lambda p: len(p.parts), reverse=True):
        wanted = _wanted(path.relative_to(root).as_posix(), spec)
        if path.is_symlink() or not path.is_dir():
            if not wanted:
                path.unlink()
        elif not any(path.iterdir()) and (path in full or not wanted):
            path.rmdir()


def move_files(root: Path, spec: PackageSpec) -> None:
    """Rename the ``moves`` of ``spec`` (Debian's contrib scripts to Docker's /usr/bin)."""
    for source, target in spec.moves:
        if not (root / source).exists():
            raise LabError(f"{spec.name}: {source} is missing; the lab recipe needs updating.")
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        (root / source).rename(root / target)
        parent = (root / source).parent
        while parent != root and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _merge_tree(source: Path, dest: Path) -> None:
    """Move the files of ``source`` into ``dest``; a file present in both is a recipe bug."""
    for directory, dirs, files in os.walk(source):
        relative = Path(directory).relative_to(source)
        if relative == Path("."):
            dirs[:] = [d for d in dirs if d != "DEBIAN"]
        for name in dirs:
            target = dest / relative / name
            if (Path(directory) / name).is_symlink():
                files.append(name)
            elif not target.is_dir():
                target.mkdir()
                shutil.copystat(Path(directory) / name, target)
        for name in files:
            target = dest / relative / name
            if target.exists() or target.is_symlink():
                raise LabError(f"{target.relative_to(dest)} is in two merged packages.")
            os.rename(Path(directory) / name, target)


def _prepare_debian_dir(root: Path, spec: PackageSpec, extra_conffiles: Iterable[str]) -> None:
    """Maintainer scripts, ``conffiles`` and a fresh ``md5sums`` for the selected files.

    Debian's scripts work unchanged under Docker's names: ``dpkg-maintscript-helper`` reads the
    package from ``DPKG_MAINTSCRIPT_PACKAGE``, ``deb-systemd-helper`` keys its state by unit
    name, and ``/usr/share/docker.io/contrib`` is a path the package still ships. So
    ``docker-ce`` adds the ``docker`` group on first install and enables and starts
    ``docker.socket`` and ``docker.service`` (``containerd.io``: ``containerd.service``).
    """
    control = root / "DEBIAN"
    for name in _MAINTAINER_FILES:
        path = control / name
        if path.exists() and not spec.scripts:
            path.unlink()
        elif path.exists() and name in _DEBCONF:
            # Some docker.io builds (Ubuntu's) ask through debconf whether to restart the
            # daemon on upgrade; a lab install must never wait on a prompt. Known questions
            # (sid's: may a purge delete /var/lib/docker?) go, as Docker asks none.
            if set(_debconf_questions(control)) - set(spec.debconf):
                raise LabError(
                    f"{spec.sources[0]} now uses debconf; the lab recipe needs updating."
                )
            path.unlink()
    conffiles = _read_lines(control / "conffiles") if spec.scripts else []
    kept = [
        line
        for line in [*conffiles, *extra_conffiles]
        if (root / line.split()[-1].lstrip("/")).exists()
    ]
    _write_lines(control / "conffiles", kept)
    for name in ("md5sums", "shlibs", "symbols"):
        (control / name).unlink(missing_ok=True)
    _write_md5sums(root, {line.split()[-1] for line in kept})


def _debconf_questions(control: Path) -> list[str]:
    templates = control / "templates"
    text = templates.read_text() if templates.exists() else ""
    return [fields.get("Template", "") for fields in parse_stanzas(text)] or ["(config only)"]


def _read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.unlink(missing_ok=True)
    if lines:
        path.write_text("".join(f"{line}\n" for line in dict.fromkeys(lines)))


def _write_md5sums(root: Path, conffiles: set[str]) -> None:
    lines = []
    for path in sorted(_files(root)):
        relative = path.relative_to(root).as_posix()
        if not path.is_symlink() and f"/{relative}" not in conffiles:
            lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {relative}")
    _write_lines(root / "DEBIAN" / "md5sums", lines)


def _rename_docs(root: Path, spec: PackageSpec) -> None:
    old = root / "usr/share/doc" / spec.sources[0]
    new = root / "usr/share/doc" / spec.name
    if old.is_dir() and not old.is_symlink() and not new.exists():
        old.rename(new)


def _glibc_checked(target: Target, root: Path, depends: list[str]) -> list[str]:
    """Lower a ``libc6`` bound the target suite cannot satisfy, if the binaries allow it.

    Checked by hand too (objdump -T / readelf -V, trixie 2025): dockerd, docker-proxy, docker,
    docker-buildx and docker-compose need GLIBC_2.34 at most, below bookworm's 2.36; only
    trixie's runc needs 2.38, and containerd.io takes each suite's own runc.
    """
    bound = libc_bound(depends)
    if bound is None or compare_versions(bound, target.glibc) <= 0:
        return depends
    needed = required_glibc(root)
    if needed is not None and compare_versions(needed, target.glibc) > 0:
        raise LabError(
            f"{target.spec.name} from {_source_suite(target)} needs glibc {needed}, "
            f"{target.suite} has {target.glibc}; the lab recipe needs updating."
        )
    return relax_libc(depends, needed or "2.2.5")


def repack(target: Target, debs: Sequence[Path], pool: Path, work: Path, arch: str) -> dict:
    """Build ``target`` from its Debian ``.deb`` files into ``pool``; return its index fields."""
    spec = target.spec
    root = Path(tempfile.mkdtemp(prefix=f"{spec.name}-{target.suite}-", dir=work))
    try:
        controls, conffiles = [], []
        for index, deb in enumerate(debs):
            tree = root if index == 0 else Path(tempfile.mkdtemp(dir=work))
            run(["dpkg-deb", "--raw-extract", str(deb), str(tree)])
            controls.append(next(parse_stanzas((tree / "DEBIAN/control").read_text())))
            if index:
                _check_no_scripts(tree, deb)
                conffiles += _read_lines(tree / "DEBIAN/conffiles")
                _merge_tree(tree, root)
                shutil.rmtree(tree)
        select_files(root, spec)
        move_files(root, spec)
        _rename_docs(root, spec)
        _prepare_debian_dir(root, spec, conffiles)
        fields = control_fields(target, controls, arch)
        if "Depends" in fields:
            depends = _glibc_checked(target, root, parse_relations(fields["Depends"]))
            fields["Depends"] = ", ".join(depends)
        fields = _with_size(fields, installed_size(root))
        (root / "DEBIAN/control").write_text(format_stanza(fields))
        out = pool / target.filename(arch)
        run([*DPKG_BUILD, str(root), str(out)])
        return {**fields, "Filename": out.name}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _with_size(fields: dict[str, str], size: int) -> dict[str, str]:
    fields = {**fields, "Installed-Size": str(size)}
    return {key: fields[key] for key in CONTROL_ORDER if key in fields}


def _check_no_scripts(tree: Path, deb: Path) -> None:
    present = [name for name in _MAINTAINER_FILES if (tree / "DEBIAN" / name).exists()]
    if present:
        raise LabError(
            f"{deb.name} has maintainer scripts ({', '.join(present)}) that a merged package "
            "cannot keep; the lab recipe needs updating."
        )


# Planning


def needed_packages(suites: Iterable[str]) -> dict[str, set[str]]:
    """Per Debian suite, the packages the recipe takes from it (``libc6`` gives its glibc)."""
    needs: dict[str, set[str]] = {}
    for suite in suites:
        needs.setdefault(suite, set()).add("libc6")
        for spec in SPECS:
            for name in spec.sources:
                needs.setdefault(_suite_of(spec, name, suite), set()).add(name)
    return needs


def _suite_of(spec: PackageSpec, source: str, suite: str) -> str:
    """The Debian suite ``source`` of ``spec`` comes from when building ``suite``."""
    return suite if source in spec.local_sources else spec.source_suite or suite


def plan(suites: Iterable[str], selections: dict[str, dict[str, DebianPackage]]) -> list[Target]:
    """Every package of every suite, with its Debian sources."""
    targets = [
        Target(
            spec=spec,
            suite=suite,
            sources=tuple(selections[_suite_of(spec, name, suite)][name] for name in spec.sources),
            glibc=upstream_version(selections[suite]["libc6"].version),
        )
        for suite in suites
        for spec in SPECS
    ]
    for target in targets:
        _check_upstream(target)
    return targets


def _check_upstream(target: Target) -> None:
    first, wanted = target.sources[0], target.spec.upstream
    if wanted is not None and upstream_version(first.version) != wanted:
        raise LabError(
            f"Debian {target.spec.source_suite} now carries {first.name} {first.version}, "
            f"not {wanted}: the lab recipe's release of {target.spec.name} needs updating."
        )


def recipe_digest(specs: Sequence[PackageSpec] | None = None) -> str:
    """A digest of the recipe: :data:`RECIPE_VERSION` and every spec (:data:`SPECS`)."""
    specs = SPECS if specs is None else specs
    data = json.dumps([RECIPE_VERSION, [repr(spec) for spec in specs]])
    return hashlib.sha256(data.encode()).hexdigest()


def repository_dir(cache: Path) -> Path:
    """Where this recipe's repository lives in ``cache``: one directory per recipe, so labs
    of checkouts with different recipes share the cache without rebuilding over each other."""
    return cache / f"repo-{recipe_digest()[:12]}"


def cache_key(targets: Iterable[Target], fingerprint: str, suites: Sequence[str], arch: str) -> str:
    """A digest of everything the repository is made of: equal keys, equal repositories."""
    targets = list(targets)
    data = {
        "recipe": recipe_digest(),
        "suites": list(suites),
        "arch": arch,
        "fingerprint": fingerprint,
        "sources": sorted({package.sha256 for t in targets for package in t.sources}),
        "glibc": {t.suite: t.glibc for t in targets},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def engine_versions(targets: Iterable[Target]) -> dict[str, list[str]]:
    """``docker-ce`` versions per suite, oldest first."""
    versions: dict[str, list[str]] = {}
    for target in targets:
        if target.spec.name == "docker-ce":
            versions.setdefault(target.suite, []).append(target.version)
    return {
        suite: sorted(found, key=functools.cmp_to_key(compare_versions))
        for suite, found in versions.items()
    }


# Signing


def _gpg(gnupghome: Path, *args: str) -> str:
    base = ["gpg", "--homedir", str(gnupghome), "--batch", "--no-tty", "--quiet"]
    return run([*base, "--pinentry-mode", "loopback", "--passphrase", "", *args]).stdout


def signing_key(gnupghome: Path) -> str | None:
    """Fingerprint of the lab's signing key in ``gnupghome``, if there is one."""
    if not (gnupghome / "pubring.kbx").exists():
        return None
    listing = run(
        ["gpg", "--homedir", str(gnupghome), "--batch", "--with-colons", "-k", SIGNING_UID],
        check=False,
    ).stdout
    return next(
        (line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")), None
    )


def ensure_signing_key(gnupghome: Path) -> str:
    """The signing key's fingerprint; a passphrase-less ed25519 key is made the first time."""
    gnupghome.mkdir(mode=0o700, parents=True, exist_ok=True)
    gnupghome.chmod(0o700)
    fingerprint = signing_key(gnupghome)
    if fingerprint is None:
        with _gpg_agent(gnupghome):
            _gpg(gnupghome, "--quick-gen-key", SIGNING_UID, "ed25519", "sign", "never")
        fingerprint = signing_key(gnupghome)
    if fingerprint is None:
        raise LabError(f"gpg made no signing key in {gnupghome}; remove it and retry.")
    return fingerprint


@contextlib.contextmanager
def _gpg_agent(gnupghome: Path) -> Iterator[None]:
    """Stop the gpg-agent that gpg starts for ``gnupghome`` once we are done."""
    try:
        yield
    finally:
        run(["gpgconf", "--homedir", str(gnupghome), "--kill", "gpg-agent"], check=False)


def sign_release(gnupghome: Path, fingerprint: str, directory: Path) -> None:
    """``InRelease`` (clearsigned) and ``Release.gpg`` (detached) beside ``directory/Release``."""
    release = str(directory / "Release")
    signer = ("--yes", "--local-user", fingerprint, "--digest-algo", "SHA512")
    _gpg(gnupghome, *signer, "--clearsign", "--output", str(directory / "InRelease"), release)
    _gpg(gnupghome, *signer, "--armor", "--detach-sign", "--output", release + ".gpg", release)


# Indexes


def packages_index(records: Iterable[dict[str, str]], pool: Path, prefix: str) -> str:
    """A ``Packages`` file: each control paragraph with its pool path, size and checksums."""
    paragraphs = []
    for record in sorted(records, key=functools.cmp_to_key(_record_order)):
        data = (pool / record["Filename"]).read_bytes()
        fields = {key: value for key, value in record.items() if key != "Filename"}
        description = fields.pop("Description")
        fields |= {
            "Filename": f"{prefix}/{record['Filename']}",
            "Size": str(len(data)),
            "MD5sum": hashlib.md5(data).hexdigest(),
            "SHA256": hashlib.sha256(data).hexdigest(),
            "Description": description,
        }
        paragraphs.append(format_stanza(fields))
    return "\n".join(paragraphs)


def _record_order(a: dict[str, str], b: dict[str, str]) -> int:
    names = (a["Package"] > b["Package"]) - (a["Package"] < b["Package"])
    return names or compare_versions(a["Version"], b["Version"])


def release_file(codename: str, arch: str, files: dict[str, bytes]) -> str:
    """The suite's ``Release``, with the SHA256 of each index file (paths relative to it)."""
    fields = {
        "Origin": "Docker",
        "Label": "Docker",
        "Suite": codename,
        "Codename": codename,
        "Date": time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "Architectures": arch,
        "Components": COMPONENT,
        "Description": f"Docker CE packages for Debian {codename} (provision lab stand-in)",
    }
    sums = "".join(
        f"\n {hashlib.sha256(data).hexdigest()} {len(data):>16} {path}"
        for path, data in sorted(files.items())
    )
    return format_stanza(fields) + f"SHA256:{sums}\n"


def pool_dir(repo: Path, codename: str, arch: str) -> Path:
    return repo / "dists" / codename / "pool" / COMPONENT / arch


def write_suite(repo: Path, codename: str, arch: str, records: list[dict[str, str]]) -> Path:
    """``Packages``, ``Packages.gz`` and ``Release`` of one suite; return its dists directory."""
    dists = repo / "dists" / codename
    prefix = pool_dir(repo, codename, arch).relative_to(repo).as_posix()
    packages = packages_index(records, pool_dir(repo, codename, arch), prefix).encode()
    _write_indexes(dists, codename, arch, packages)
    return dists


def _write_indexes(dists: Path, codename: str, arch: str, packages: bytes) -> None:
    """``Packages``, ``Packages.gz`` and the ``Release`` listing them, in ``dists``."""
    index = f"{COMPONENT}/binary-{arch}/Packages"
    files = {index: packages, f"{index}.gz": gzip.compress(packages, mtime=0)}
    for path, data in files.items():
        (dists / path).parent.mkdir(parents=True, exist_ok=True)
        (dists / path).write_bytes(data)
    (dists / "Release").write_text(release_file(codename, arch, files))


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
