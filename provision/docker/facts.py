"""Facts the Docker deploy reads: each is one short command on the host."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from . import systemd
from .aptsources import SOURCE_NAME
from .distro import parse_os_release
from .dpkg import PackageState, parse_query, query_command  # noqa: F401 (re-exported)
from .keyring import MAX_BYTES
from .logins import without_login

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
    """Bytes at a URL as the host fetches it with curl, or ``(None, error)``.

    curl reads its config (``logins.curl_config``: the URL's login, the proxy) from standard
    input: read it with ``download``. The command line holds the URL without its login.
    """

    requires_command = "curl"

    def command(self, url: str) -> str:
        return (
            "t=$(mktemp) && { curl -K - --globoff -fsSL --retry 2 --max-time 60 "
            f'--max-filesize {MAX_BYTES} {shlex.quote(without_login(url))} -o "$t" 2>&1'
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


SOURCE_FILES = (
    "/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources"
)
MAX_SOURCES_BYTES = 1 << 20


class AptSources(FactBase):
    """``{path: RemoteFile}``: the apt sources files apt reads (``sources.list``, and
    ``sources.list.d`` entries named as apt wants them), each up to 1 MiB, in base64."""

    def command(self) -> str:
        return (
            f"for f in {SOURCE_FILES}; do "
            'case "${f##*/}" in *[!A-Za-z0-9_.-]*) continue;; esac; '
            '[ -f "$f" ] && [ "$(stat -L -c %s "$f")" -le '
            f"{MAX_SOURCES_BYTES} ] || continue; "
            'printf \'%s %s \' "$f" "$(stat -L -c \'%a %U:%G\' "$f")"; base64 -w0 "$f"; echo; '
            "done; true"
        )

    def process(self, output: list[str]) -> dict[str, RemoteFile]:
        found = {}
        for line in output:
            words = line.split(" ")
            if len(words) != 4 or not is_source_path(words[0]) or not words[1].isdigit():
                continue  # nothing is done about what cannot be read
            try:
                content = base64.b64decode(words[3], validate=True)
            except ValueError:
                continue
            found[words[0]] = RemoteFile(words[1], words[2], content)
        return found

    @staticmethod
    def default() -> dict[str, RemoteFile]:
        return {}


def is_source_path(path: str) -> bool:
    """Whether apt reads ``path`` as a sources file."""
    directory, _, name = path.rpartition("/")
    if path == "/etc/apt/sources.list":
        return True
    return directory == "/etc/apt/sources.list.d" and bool(SOURCE_NAME.fullmatch(name))


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
        url = without_login(url)  # apt-helper finds a login in auth.conf.d
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
