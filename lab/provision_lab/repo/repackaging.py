"""Repackaging one Debian package under Docker's name: its files, its control file, its scripts."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..debian import (
    compare_versions,
    format_stanza,
    parse_stanzas,
)
from ..errors import LabError
from ..system import run
from .control import (
    _entries,
    _files,
    _source_suite,
    control_fields,
    installed_size,
    libc_bound,
    parse_relations,
    relax_libc,
    required_glibc,
)
from .specs import (
    _DEBCONF,
    _MAINTAINER_FILES,
    ALWAYS_DROP,
    CONTROL_ORDER,
    DPKG_BUILD,
    PackageSpec,
    Target,
)

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
