"""Which Debian packages the repository is built from, and the key of a built repository."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..debian import (
    DebianPackage,
    compare_versions,
)
from ..errors import LabError
from .specs import RECIPE_VERSION, SPECS, PackageSpec, Target, upstream_version

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
