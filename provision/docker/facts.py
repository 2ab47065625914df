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
from .files import stdin_line, writer
from .keyring import MAX_BYTES
from .logins import AUTH_DIR, auth_conf, proxy_conf, without_login

FAILED = "PROVISION-FAILED"


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


BACKUP = ".provision-backup-"  # PATH.provision-backup-20261206T183000Z: a file taken over


class Backup(FactBase):
    """``(path, content)`` of the newest backup of ``path`` beside it, ``None`` when none is."""

    def command(self, path: str) -> str:
        pattern = shlex.quote(path + BACKUP) + "*"  # only the stamp is globbed
        return (
            f'b=; for f in {pattern}; do [ -f "$f" ] && b=$f; done; '
            '[ -n "$b" ] && { echo "$b"; base64 -w0 "$b"; echo; }; true'
        )

    def process(self, output: list[str]) -> tuple[str, bytes] | None:
        if not output:
            return None
        return output[0], base64.b64decode("".join(output[1:]))

    @staticmethod
    def default() -> None:
        return None


APT_HELPER = "/usr/lib/apt/apt-helper"  # part of apt: on every host, before any install


def scratch_apt() -> str:
    """Commands making a throwaway directory ``$t`` (the working directory then) holding apt's
    configuration for this run (``apt.conf``) and its logins (``auth.conf.d``: the host's own
    files and this run's), both read from standard input (``scratch_input``), root's alone.
    ``SCRATCH_OPTIONS`` point apt at them; ``rm_scratch`` removes it all."""
    return (
        't=$(mktemp -d) && chmod 755 "$t" && cd "$t" && install -d -m 0700 auth.conf.d && '
        f"{{ cp -p {AUTH_DIR}/*.conf auth.conf.d/ 2>/dev/null; true; }} && "
        + writer("apt.conf", "0600")
        + " && "
        + writer("auth.conf.d/zz-provision.conf", "0600")
    )


SCRATCH_OPTIONS = '-c "$t/apt.conf" -o "Dir::Etc::netrcparts=$t/auth.conf.d"'


def rm_scratch() -> str:
    return 'cd / && rm -rf "$t"'


def scratch_input(config: str | None, logins: str | None) -> str:
    """Standard input for ``scratch_apt``: apt's configuration, then its login entries."""
    return stdin_line((config or "").encode()) + stdin_line((logins or "").encode())


def download_input(url: str, proxy: str | None) -> str:
    """Standard input for ``Download`` of ``url``: apt's configuration for ``proxy``, and the
    logins of both."""
    return scratch_input(proxy_conf(proxy), (auth_conf(proxy) or "") + (auth_conf(url) or ""))


class Download(FactBase):
    """Bytes at a URL as apt's own downloader fetches them, or ``(None, error)``.

    ``apt-helper download-file`` (part of apt, so a fresh host needs no curl) with apt's proxy
    configuration and logins in a throwaway state (``scratch_apt``): pass them on standard
    input with ``scratch_input``. The command line holds the URL without its login, and apt
    reads it literally (no globbing, no shell).
    """

    def command(self, url: str) -> str:
        target = shlex.quote(without_login(url))
        get = f'{APT_HELPER} {SCRATCH_OPTIONS} download-file {target} "$t/f"'
        return (
            f"{scratch_apt()} && "
            f'{{ if out=$({get} 2>&1 < /dev/null) && [ "$(stat -c %s "$t/f")" -le {MAX_BYTES} ]; '
            f'then base64 -w0 "$t/f"; echo; else echo "$out" | tail -n 3; echo {FAILED}; fi; }}; '
            + rm_scratch()
        )

    def process(self, output: list[str]) -> tuple[bytes | None, str]:
        if output and output[-1].startswith(FAILED):
            detail = " ".join(line.strip() for line in output[:-1] if line.strip())
            return None, detail or "apt-helper failed"
        return base64.b64decode("".join(output)), ""

    @staticmethod
    def default():
        return None, "no answer"


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
