"""Facts the Docker deploy reads: each is one short command on the host."""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .distro import parse_os_release
from .dpkg import PackageState, parse_query, query_command  # noqa: F401 (re-exported)

FAILED = "PROVISION-FAILED"
UNREADABLE = "PROVISION-UNREADABLE"


class OsTarget(FactBase):
    """``(os_release, dpkg_architecture)`` of the host."""

    def command(self) -> str:
        return "cat /etc/os-release; echo ---; dpkg --print-architecture 2>/dev/null || true"

    def process(self, output: list[str]) -> tuple[dict[str, str], str]:
        text = "\n".join(output)
        release, _, arch = text.partition("\n---")
        return parse_os_release(release), arch.strip()


class Packages(FactBase):
    """Installed state of the named packages; key ``None`` is True when dpkg was interrupted."""

    def command(self, packages) -> str:
        return query_command(packages)

    def process(self, output: list[str]) -> dict:
        return parse_query(output)

    @staticmethod
    def default() -> dict:
        return {None: False}


@dataclass(frozen=True)
class RemoteFile:
    """A file on the host: its mode, owner and bytes."""

    mode: str
    owner: str
    content: bytes


class FileContent(FactBase):
    """Mode, owner and content of a (small) file, ``None`` when absent."""

    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        return (
            f"if [ -f {quoted} ]; then stat -c '%a %U:%G' {quoted}; base64 -w0 {quoted}; echo; fi"
        )

    def process(self, output: list[str]) -> RemoteFile | None:
        if not output:
            return None
        mode, owner = output[0].split()
        return RemoteFile(mode, owner, base64.b64decode("".join(output[1:])))


class Download(FactBase):
    """Bytes at a URL as the host fetches it with curl, or ``(None, error)``."""

    requires_command = "curl"

    def command(self, url: str) -> str:
        return (
            f't=$(mktemp) && {{ curl -fsSL --retry 2 --max-time 60 {shlex.quote(url)} -o "$t" 2>&1'
            f' && base64 -w0 "$t" && echo || echo "{FAILED} $?"; }}; rm -f "$t"'
        )

    def process(self, output: list[str]) -> tuple[bytes | None, str]:
        if output and output[-1].startswith(FAILED):
            detail = " ".join(line for line in output[:-1] if line).strip()
            return None, detail or f"curl exit {output[-1].split()[-1]}"
        return base64.b64decode("".join(output)), ""

    @staticmethod
    def default():
        return None, "curl is not installed"


class Paths(FactBase):
    """Which of the given shell globs match files, links or non-empty directories."""

    def command(self, patterns) -> str:
        return (
            f'for p in {" ".join(patterns)}; do {{ [ -f "$p" ] || [ -L "$p" ] || '
            '[ -n "$(ls -A "$p" 2>/dev/null)" ]; } && echo "$p"; done; true'
        )

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line]

    @staticmethod
    def default() -> list[str]:
        return []


class FilesMentioning(FactBase):
    """Apt source files with an active (not commented) line that mentions ``text``."""

    def command(self, text: str) -> str:
        pattern = shlex.quote("^[^#]*" + re.escape(text))
        return f"grep -lsE {pattern} /etc/apt/sources.list /etc/apt/sources.list.d/* || true"

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line]

    @staticmethod
    def default() -> list[str]:
        return []


class Users(FactBase):
    """``(members of group, users that do not exist)``."""

    def command(self, group: str, users) -> str:
        checks = "".join(
            f"id -u {shlex.quote(u)} >/dev/null 2>&1 || echo missing:{u}; " for u in users
        )
        return f"getent group {shlex.quote(group)} || echo nogroup; {checks}true"

    def process(self, output: list[str]):
        members: set[str] | None = None
        missing = []
        for line in output:
            if line.startswith("missing:"):
                missing.append(line[len("missing:") :])
            elif line != "nogroup" and line.count(":") >= 3:
                members = {m for m in line.split(":")[3].split(",") if m}
        return members, missing

    @staticmethod
    def default():
        return None, []


class ServiceState(FactBase):
    """``{unit: (active, enabled)}`` as systemctl reports them."""

    def command(self, units) -> str:
        return (
            "".join(
                f"echo {u} $(systemctl is-active {u} 2>/dev/null)"
                f" $(systemctl is-enabled {u} 2>/dev/null); "
                for u in units
            )
            + "true"
        )

    def process(self, output: list[str]) -> dict[str, tuple[str, str]]:
        states = {}
        for line in output:
            unit, *rest = line.split()
            rest += ["unknown", "unknown"]
            states[unit] = (rest[0], rest[1])
        return states


class CandidateVersions(FactBase):
    """Versions of a package the configured repositories offer (``apt-cache madison``)."""

    def command(self, package: str) -> str:
        return f"apt-cache madison {shlex.quote(package)} 2>/dev/null | cut -d'|' -f2 || true"

    def process(self, output: list[str]) -> list[str]:
        return [line.strip() for line in output if line.strip()]

    @staticmethod
    def default() -> list[str]:
        return []


class RepositoryIndex(FactBase):
    """``{package: [versions]}`` from a repository's ``Packages`` index, ``None`` if unreadable.

    The host downloads it with apt's own downloader (``apt-helper``, part of apt: no curl
    needed, apt's proxy settings apply) into a temporary directory; nothing else is written.
    """

    def command(self, url: str) -> str:
        get = "/usr/lib/apt/apt-helper download-file"
        gz, plain = shlex.quote(url + ".gz"), shlex.quote(url)
        return (
            "t=$(mktemp -d) || exit 0; "
            f'if {get} {gz} "$t/p.gz" >/dev/null 2>&1; then gzip -dc "$t/p.gz"; '
            f'elif {get} {plain} "$t/p" >/dev/null 2>&1; then cat "$t/p"; '
            f'else echo {UNREADABLE}; fi | grep -E "^(Package|Version): |^{UNREADABLE}$"; '
            'rm -rf "$t"; true'
        )

    def process(self, output: list[str]) -> dict[str, list[str]] | None:
        if not output or UNREADABLE in output:
            return None
        versions: dict[str, list[str]] = {}
        package = None
        for line in output:
            field, _, value = line.partition(": ")
            if field == "Package":
                package = value.strip()
            elif field == "Version" and package:
                versions.setdefault(package, []).append(value.strip())
        return versions

    @staticmethod
    def default() -> None:
        return None


class PolicyCandidates(FactBase):
    """``{package: candidate_version}`` from ``apt-cache policy`` (what apt would install)."""

    def command(self, packages) -> str:
        names = " ".join(shlex.quote(p) for p in packages)
        return f"LC_ALL=C apt-cache policy {names} 2>/dev/null || true"

    def process(self, output: list[str]) -> dict[str, str]:
        candidates, current = {}, None
        for line in output:
            if line and not line.startswith(" ") and line.endswith(":"):
                current = line[:-1]
            elif current and line.strip().startswith("Candidate:"):
                value = line.split(":", 1)[1].strip()
                if value != "(none)":
                    candidates[current] = value
        return candidates

    @staticmethod
    def default() -> dict[str, str]:
        return {}
