"""What dpkg says about packages, and Docker version matching (no pyinfra needed)."""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass

INTERRUPTED = "DPKG-INTERRUPTED"


@dataclass(frozen=True)
class PackageState:
    """What dpkg knows of one package."""

    version: str
    status: str  # dpkg's two letters: wanted (i, h=hold, r, p) and state (i, c, H, U, F, W, t)

    @property
    def installed(self) -> bool:
        """Unpacked and configured (triggers aside)."""
        return self.status[1:2] in ("i", "W", "t")

    @property
    def held(self) -> bool:
        return self.status[:1] == "h"

    @property
    def broken(self) -> bool:
        """Half-installed, unpacked or half-configured: dpkg was interrupted."""
        return self.status[1:2] in ("H", "U", "F")

    @property
    def present(self) -> bool:
        """Anything of it on the host, configuration files included."""
        return self.status[1:2] not in ("n", "")


def query_command(packages) -> str:
    """One command reporting each package's status and version, and an interrupted dpkg."""
    names = " ".join(shlex.quote(p) for p in packages)
    return (
        f"dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}} ${{Version}}\\n' {names}"
        # dpkg's journal of an unfinished run (numbered files): the shell's glob, no ls
        f' 2>/dev/null; for f in /var/lib/dpkg/updates/*; do [ -e "$f" ] && echo {INTERRUPTED};'
        " break; done; true"
    )


def parse_query(output: list[str]) -> dict:
    """``{name: PackageState}`` from ``query_command``; key ``None``: dpkg was interrupted."""
    state: dict = {None: False}
    for line in output:
        if line.strip() == INTERRUPTED:
            state[None] = True
            continue
        parts = line.split()
        if len(parts) >= 2:
            name, status = parts[0], parts[1]
            version = parts[2] if len(parts) > 2 else ""
            if status[1:2] not in ("n",) and version:
                state[name] = PackageState(version, status.strip())
    return state


RELEASE_RE = re.compile(r"^\d+\.\d+(\.\d+)?\Z")  # a Docker release, whole or partial: 27.5
UPSTREAM_RE = re.compile(r"^(\d+(?:\.\d+)*)(.*)\Z")


def version_matches(version: str, wanted: str) -> bool:
    """True when a full Debian version is of the Docker release ``wanted``: ``27.5.1``, a
    partial ``27.5`` (any 27.5.x, as get.docker.com's ``VERSION``) or a version string up to
    its Debian revision (``27.0.0~rc.1``, asked for by name) or whole.

    ``27.0.0`` is ``5:27.0.0-1~debian.12~bookworm`` and, in the older scheme, ``5:20.10.24~3-0~
    debian-bookworm`` (``~3`` counts builds), never a pre-release such as ``27.0.0~rc.1-1``.
    """
    upstream = re.sub(r"^\d+:", "", version)
    if wanted in (version, upstream):
        return True
    found = UPSTREAM_RE.match(upstream)
    if RELEASE_RE.fullmatch(wanted) and found:
        release, rest = found.groups()
        parts = wanted.split(".")
        if release.split(".")[: len(parts)] != parts:
            return False
    elif upstream.startswith(wanted):  # a version string up to its Debian revision
        rest = upstream[len(wanted) :]
    else:
        return False
    build = rest[1:].split("-", 1)[0] if rest.startswith("~") else ""
    return rest.startswith("-") or (build.isdigit() and rest.startswith(f"~{build}-"))


def newest_match(available, wanted: str) -> str | None:
    """The newest of the ``available`` versions that is of ``wanted`` (``None``: none is)."""
    matches = [version for version in available if version_matches(version, wanted)]
    return max(matches, key=functools.cmp_to_key(compare_versions)) if matches else None


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isdigit():
        return 0
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's ``verrevcmp``: alternate non-digit runs (``~`` first) and numeric runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            left = _order(a[i]) if i < len(a) else 0
            right = _order(b[j]) if j < len(b) else 0
            if left != right:
                return left - right
            i, j = i + 1, j + 1
        start_i, start_j = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        left_num, right_num = int(a[start_i:i] or 0), int(b[start_j:j] or 0)
        if left_num != right_num:
            return left_num - right_num
    return 0


def split_version(version: str) -> tuple[int, str, str]:
    """``epoch:upstream-revision`` as ``(epoch, upstream, revision)``."""
    epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or 0), upstream, revision


def compare_versions(a: str, b: str) -> int:
    """Compare two Debian versions like ``dpkg --compare-versions``: negative, 0 or positive."""
    left, right = split_version(a), split_version(b)
    if left[0] != right[0]:
        return left[0] - right[0]
    return _compare_part(left[1], right[1]) or _compare_part(left[2], right[2])
