"""What the stand-in repository holds: each package's recipe (``PackageSpec``), the engine
releases it carries (``RELEASES``), what one build makes (``Target``) and Docker-style
versions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..debian import (
    DebianPackage,
    release_number,
)

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
