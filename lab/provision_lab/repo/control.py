"""Docker-style relationships and control files for the repackaged packages."""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..debian import (
    compare_versions,
)
from ..errors import LabError
from ..system import run
from .specs import CONTROL_ORDER, DEPENDENCY_RENAMES, MAINTAINER, Target

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
