"""Facts the Docker deploy reads: each is one short command on the host."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from . import systemd
from .distro import parse_os_release
from .dpkg import PackageState, parse_query, query_command  # noqa: F401 (re-exported)
from .keyring import MAX_BYTES

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

    merge_by = "packages"  # a snapshot asks dpkg once for the packages of every read

    def command(self, packages) -> str:
        return query_command(packages)

    def process(self, output: list[str]) -> dict:
        return parse_query(output)

    @staticmethod
    def select(value: dict, packages) -> dict:
        return {None: value.get(None, False), **{n: value[n] for n in packages if n in value}}

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
    """Bytes at a URL as the host fetches it with curl (through ``proxy``), or
    ``(None, error)``."""

    requires_command = "curl"

    def command(self, url: str, proxy: str | None = None) -> str:
        via = f"--proxy {shlex.quote(proxy)} " if proxy else ""
        return (
            f"t=$(mktemp) && {{ curl -fsSL --retry 2 --max-time 60 --max-filesize {MAX_BYTES} "
            f'{via}{shlex.quote(url)} -o "$t" 2>&1'
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
    """Which files, links or non-empty directories match ``patterns`` (``DIR/NAME-GLOB``).

    Only the last part of a pattern may hold a glob; one ``find`` matches them all, so no
    pattern is ever expanded by a shell.
    """

    def command(self, patterns) -> str:
        if not patterns:
            return "true"
        directories, tests = [], []
        for pattern in patterns:
            directory, _, name = pattern.rpartition("/")
            directory = directory or "/"
            if any(char in directory for char in "*?[\\"):
                raise ValueError(f"only the last part of {pattern!r} may be a glob")
            if directory not in directories:
                directories.append(directory)
            inside = directory.rstrip("/")
            # -path's * also matches "/": the second test keeps entries of other directories out
            here, deeper = shlex.quote(f"{inside}/{name}"), shlex.quote(f"{inside}/*/*")
            tests.append(rf"\( -path {here} ! -path {deeper} \)")
        return (
            f"find {' '.join(map(shlex.quote, directories))} -mindepth 1 -maxdepth 1 "
            f"\\( {' -o '.join(tests)} \\) "
            r"\( -type f -o -type l -o \( -type d ! -empty \) \) -print 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line]

    @staticmethod
    def default() -> list[str]:
        return []


SOURCE_FILES = "/etc/apt/sources.list /etc/apt/sources.list.d/*"


class SourcesMentioning(FactBase):
    """``{file: [lines]}``: apt source files with a line holding one of ``texts``, matched as
    fixed strings by one ``grep``; names and lines come back in base64."""

    merge_by = "texts"

    def command(self, texts) -> str:
        if not texts:
            return "true"
        patterns = " ".join(f"-e {shlex.quote(text)}" for text in texts)
        # -Z: a NUL after each file name; directories, FIFOs and devices are skipped
        return f"grep -sFHZ -d skip -D skip {patterns} -- {SOURCE_FILES} | base64 -w0; echo"

    def process(self, output: list[str]) -> dict[str, list[str]]:
        try:
            rest = base64.b64decode("".join(output), validate=True)
        except ValueError:
            return {}
        found: dict[str, list[str]] = {}
        while rest:
            name, nul, rest = rest.partition(b"\0")
            if not nul:
                break
            line, _, rest = rest.partition(b"\n")
            path = name.decode(errors="replace")
            found.setdefault(path, []).append(line.decode(errors="replace"))
        return found

    @staticmethod
    def select(value: dict[str, list[str]], texts) -> dict[str, list[str]]:
        found = {
            path: [line for line in lines if any(text in line for text in texts)]
            for path, lines in value.items()
        }
        return {path: lines for path, lines in found.items() if lines}

    @staticmethod
    def default() -> dict[str, list[str]]:
        return {}


def active_lines(lines: list[str], text: str) -> list[str]:
    """The lines in which ``text`` stands before any ``#`` (apt reads them)."""
    return [line for line in lines if text in line and "#" not in line[: line.index(text)]]


class Users(FactBase):
    """``(members of group, users that do not exist)``."""

    def command(self, group: str, users) -> str:
        checks = "".join(
            f"id -u {shlex.quote(u)} >/dev/null 2>&1 || echo {shlex.quote('missing:' + u)}; "
            for u in users
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
    """``{unit: (active, enabled)}`` as systemctl reports them (``is-active``, ``is-enabled``),
    read for all units by one ``systemctl show``; ``unknown`` where it says nothing."""

    merge_by = "units"

    def command(self, units) -> str:
        return f"{systemd.show_command(units)} 2>/dev/null; true"

    def process(self, output: list[str]) -> dict[str, tuple[str, str]]:
        return systemd.parse_show(output)

    @staticmethod
    def select(value: dict[str, tuple[str, str]], units) -> dict[str, tuple[str, str]]:
        return systemd.by_name(value, units)

    @staticmethod
    def default() -> dict:
        return {}


class DaemonDowntime(FactBase):
    """Seconds ``unit`` was down between its last stop and its last start (``None`` when it
    has not been stopped since boot or is not running), from systemd's monotonic timestamps."""

    def command(self, unit: str = "docker") -> str:
        return (
            f"systemctl show {shlex.quote(unit)} -p ActiveExitTimestampMonotonic "
            "-p ActiveEnterTimestampMonotonic 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> float | None:
        stamps = dict(line.strip().partition("=")[::2] for line in output if "=" in line)
        try:
            left = int(stamps["ActiveExitTimestampMonotonic"])
            entered = int(stamps["ActiveEnterTimestampMonotonic"])
        except (KeyError, ValueError):
            return None
        return round((entered - left) / 1e6, 3) if 0 < left <= entered else None


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


@dataclass(frozen=True)
class DockerDataState:
    """Where the running daemon keeps its data, and how much it holds."""

    root: str
    images: int
    containers: int
    volumes: int

    @property
    def holds_data(self) -> bool:
        return bool(self.images or self.containers or self.volumes)

    def summary(self) -> str:
        counts = ((self.images, "image"), (self.containers, "container"), (self.volumes, "volume"))
        return ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts)


class DockerData(FactBase):
    """The running daemon's data root and its images, containers and volumes (``None``: no
    daemon answers)."""

    def command(self) -> str:
        return (
            "docker info --format '{{.DockerRootDir}} {{.Images}} {{.Containers}}' 2>/dev/null"
            " && docker volume ls -q 2>/dev/null | wc -l; true"
        )

    def process(self, output: list[str]) -> DockerDataState | None:
        words = " ".join(output).split()
        if len(words) != 4 or not all(word.isdigit() for word in words[1:]):
            return None
        return DockerDataState(words[0], *map(int, words[1:]))

    @staticmethod
    def default() -> None:
        return None
