"""Everything the checks look at, read from a host in one command.

The probe is a shell script run through ``sudo``. Each section runs one command with its
output (stdout and stderr) going to a file of its own; at the end one ``tar`` of those files
and of the exit codes comes back as a single base64 line, which ``parse`` splits again, byte
for byte. The checks then assert on the sections without another round trip.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import posixpath
import shlex
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from provision.core import compat
from provision.docker import systemd
from provision.docker.dpkg import query_command
from provision.docker.layout import DAEMON_JSON, KEYRING, SOURCES, WRITTEN_FILES
from provision.docker.rootless_layout import as_user, docker_host
from provision.docker.settings import DockerSettings

MARK = "=====provision-probe"
SOCKET = "/var/run/docker.sock"
UNITS = ("containerd", "docker.socket", "docker")
# where the deploy writes: these directories and what is directly in them
WRITTEN_DIRS = tuple(posixpath.dirname(path) for path in (KEYRING, SOURCES, DAEMON_JSON))
PLUGINS = ("compose", "buildx")
CONTAINER_TIMEOUT_S = 120
MAX_PARALLEL = 32  # hosts probed at once
# the files the deploy writes (and the keyrings directory): owner, mode and content in one tar
FILES = (posixpath.dirname(KEYRING), *WRITTEN_FILES)
UNREAD = "the checks could not read the host"  # how a ProbeError's sentence goes on
LOG_CONFIG = "log-config"  # the verification container's log configuration, beside the sections

_PRELUDE = 'd=$(mktemp -d) || exit 1\ntrap \'rm -rf "$d"\' EXIT\n: >"$d/rc"\n'
_EPILOGUE = f"printf '%s ' '{MARK}'; tar -C \"$d\" -cf - . | base64 -w0; echo\n"


@dataclass(frozen=True)
class HostFile:
    """A path on the host as ``tar`` saw it: ``kind`` is file, directory, link or other."""

    kind: str
    owner: str  # "user group mode", as ``stat -c '%U %G %a'`` prints it
    content: bytes = b""


@dataclass(frozen=True)
class Section:
    """The exit code and output (stdout and stderr) of one probe command."""

    rc: int
    output: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")


def commands(settings: DockerSettings) -> dict[str, str]:
    """``{section: shell command}`` for ``settings``: what each check needs to see."""
    names = [*settings.docker_packages, *settings.docker_obsolete_packages]
    return {
        "os_release": "cat /etc/os-release",
        "arch": "dpkg --print-architecture",
        "packages": query_command(names),
        "files": files_command(FILES),
        "units": systemd.show_command(UNITS),
        "group": "getent group docker",
        **{f"groups:{user}": f"id -Gn {shlex.quote(user)}" for user in settings.docker_users},
        "socket_stat": f"stat -c '%F %U %G %a' {SOCKET}",
        "docker_info": "docker info --format '{{json .}}'",
        "world_writable": f"find {' '.join(WRITTEN_DIRS)} -maxdepth 1 ! -type l -perm -o+w",
        "listening": "ss -Hltn",
        "container": container_command(settings),
        "log_config": f'cat "$d/{LOG_CONFIG}"',
        **rootless_commands(settings, load_command(settings) + run_command(settings)),
    }


def files_command(paths) -> str:
    """``paths`` (absolute; directories without their content) as one tar; missing ones are
    left out."""
    relative = " ".join(shlex.quote(path.lstrip("/")) for path in paths)
    return f"tar -C / --no-recursion -cf - -- {relative} 2>/dev/null; true"


def files(section: Section) -> dict[str, HostFile]:
    """``{absolute path: HostFile}`` from the ``files`` section."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(section.output))
        found = {}
        for member in archive.getmembers():
            content = archive.extractfile(member).read() if member.isfile() else b""
            owner = f"{member.uname} {member.gname} {member.mode & 0o7777:o}"
            found["/" + posixpath.normpath(member.name)] = HostFile(_kind(member), owner, content)
        return found
    except (tarfile.TarError, EOFError):
        return {}


def _kind(member: tarfile.TarInfo) -> str:
    if member.isfile():
        return "file"
    if member.isdir():
        return "directory"
    return "link" if member.issym() or member.islnk() else "other"


def run_command(settings: DockerSettings) -> str:
    """``docker run`` of the verification image (a user's check: ``docker_rootless_users``)."""
    image = shlex.quote(settings.docker_verify_image)
    return f"timeout {CONTAINER_TIMEOUT_S} docker run --rm {image}"


def container_command(settings: DockerSettings) -> str:
    """Run the verification image as ``docker run --rm`` does (create, then start attached),
    keeping the new container's log configuration for the ``log_config`` section.

    With ``docker_verify_image_url`` the image is loaded when creating the container finds it
    missing. Should a run that succeeded print no expected greeting (the attach can lose a
    short-lived container's output), the image is run once more.
    """
    image = shlex.quote(settings.docker_verify_image)
    create = f"timeout {CONTAINER_TIMEOUT_S} docker create --rm {image}"
    if settings.docker_verify_image_url:
        local = f"docker create --rm --pull never {image} 2>/dev/null"
        create = f"c=$({local}) || {{ {_load(settings)}c=$({create}); }} || exit 1; "
    else:
        create = f"c=$({create}) || exit 1; "
    expected = settings.verify_output()
    again = ""
    if expected is not None:
        again = (
            f'[ "$s" = 0 ] && case "$o" in *{shlex.quote(expected)}*) ;; '
            f"*) {run_command(settings)} 2>&1; s=$? ;; esac; "
        )
    return (
        create
        + "docker inspect --format '{{json .HostConfig.LogConfig}}' \"$c\" "
        + f'>"$d/{LOG_CONFIG}" 2>&1; '
        + f'o=$(timeout {CONTAINER_TIMEOUT_S} docker start -a "$c" 2>&1); s=$?; '
        + "printf '%s\\n' \"$o\"; "
        + again
        + 'exit "$s"'
    )


def rootless_commands(settings: DockerSettings, run: str) -> dict[str, str]:
    """Per rootless user: groups, ``docker info`` and ``run`` as the user, against the user's
    daemon (``DOCKER_HOST``), without sudo."""
    sections = {}
    info = "docker info --format '{{json .SecurityOptions}}'"
    uid = '"$u"'
    env = ["DOCKER_HOST=" + docker_host(uid)]
    for user in settings.docker_rootless_users:
        quoted = shlex.quote(user)
        prefix = f"u=$(id -u {quoted}) && cd / && "
        sections[f"rootless_groups:{user}"] = f"id -Gn {quoted}"
        sections[f"rootless_info:{user}"] = prefix + as_user(user, uid, info, env)
        sections[f"rootless_container:{user}"] = prefix + as_user(user, uid, run, env)
    return sections


def load_command(settings: DockerSettings) -> str:
    """Load the verification image from ``docker_verify_image_url`` unless it is there."""
    if not settings.docker_verify_image_url:
        return ""
    image = shlex.quote(settings.docker_verify_image)
    return f"if ! docker image inspect {image} >/dev/null 2>&1; then {_load(settings)}fi; "


def _load(settings: DockerSettings) -> str:
    """Download ``docker_verify_image_url`` and ``docker load`` it; with
    ``docker_verify_image_sha256`` the archive is checked before ``docker load`` reads it."""
    url = settings.docker_verify_image_url
    check = ""
    if settings.docker_verify_image_sha256:
        line = shlex.quote(f"{settings.docker_verify_image_sha256}  ")
        refusal = shlex.quote(
            f"{url} is not the image archive docker_verify_image_sha256 names; not loaded."
        )
        check = (
            f'echo {line}"$a" | sha256sum -c --status - || '
            f'{{ echo {refusal}; rm -f "$a"; exit 1; }}; '
        )
    return (
        f'a=$(mktemp) && curl --globoff -fsSL {shlex.quote(url)} -o "$a" || exit 1; {check}'
        'docker load -i "$a"; s=$?; rm -f "$a"; [ "$s" = 0 ] || exit "$s"; '
    )


def docker_info(section: Section) -> dict:
    """``docker info`` as JSON (the daemon's part is missing when it cannot be reached)."""
    lines = [line for line in section.text.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}


def render(sections: dict[str, str]) -> str:
    """One shell script running each ``{name: command}`` and printing them all as one line.

    Sections are stored by number (names hold host data, such as user names).
    """
    lines = [
        f'( {command} ) >"$d/{index}" 2>&1 </dev/null; echo "{index} $?" >>"$d/rc"'
        for index, command in enumerate(sections.values())
    ]
    return _PRELUDE + "\n".join(lines) + "\n" + _EPILOGUE


def parse(output: str, names: list[str]) -> dict[str, Section]:
    """``{name: Section}`` from the output of ``render`` for sections ``names`` (in order);
    lines that are not the probe's are ignored, and so is a line that does not decode."""
    for line in output.splitlines():
        marker, _, payload = line.partition(" ")
        if marker != MARK:
            continue
        try:
            archive = tarfile.open(fileobj=io.BytesIO(base64.b64decode(payload, validate=True)))
            stored = {
                posixpath.normpath(member.name): archive.extractfile(member).read()
                for member in archive.getmembers()
                if member.isfile()
            }
        except (binascii.Error, tarfile.TarError, EOFError):
            continue
        sections = {}
        for entry in stored.get("rc", b"").decode().splitlines():
            index, _, rc = entry.partition(" ")
            if index.isdigit() and int(index) < len(names) and rc.isdigit() and index in stored:
                sections[names[int(index)]] = Section(int(rc), stored[index])
        return sections
    return {}


class ProbeError(Exception):
    """A host whose probe did not run; the message names the host and the cause."""


def probe(host, settings: DockerSettings) -> dict[str, Section]:
    """Run the probe on a testinfra ``host``; raises ``ProbeError`` when it could not run."""
    return read(host, commands(settings))


def read(host, wanted: dict[str, str]) -> dict[str, Section]:
    """Run ``{section: command}`` on a testinfra ``host`` with sudo, as one command; raises
    ``ProbeError`` when it could not run."""
    try:
        result = host.run("sudo -n sh -c %s", render(wanted))
    except RuntimeError as error:
        result = compat.ssh_failure(error)
        if result is None:
            raise
        sections = {}
    else:
        sections = parse(result.stdout, list(wanted))
    if not sections:
        lines = result.stderr.strip().splitlines()
        detail = (lines or [f"exit code {result.rc}"])[-1]
        raise ProbeError(f"{host.backend.get_hostname()}: {UNREAD} ({detail}); {_remedy(lines)}")
    return sections


HOST_KEY = (
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "No ED25519 host key is known",
    "host key for",
)


def _remedy(stderr: list[str]) -> str:
    """What to do, from what ``ssh`` said: a host key problem is not a sudo problem."""
    said = "\n".join(stderr)
    if any(sign in said for sign in HOST_KEY):
        return "its SSH host key is unknown or changed: check it and update ssh_known_hosts_file."
    if "sudo" in said:
        return "the checks need passwordless sudo for the inventory's ssh_user."
    return "they need SSH access and passwordless sudo."


def session_hosts(session) -> dict:
    """``{name: testinfra host}`` of every check a pytest ``session`` collected."""
    hosts = {}
    for item in session.items:
        host = compat.testinfra_host(item)
        if host is not None:
            hosts[host.backend.get_hostname()] = host
    return hosts


def probe_all(hosts: dict, commands_of, parallel: int | None = None) -> dict:
    """``{name: sections or ProbeError}`` for testinfra ``hosts`` (``{name: host}``), all read
    at once (``parallel`` at a time), each with one command: ``commands_of(name)``'s sections."""

    def one(name):
        try:
            return read(hosts[name], commands_of(name))
        except ProbeError as error:
            return error

    workers = max(1, min(len(hosts), parallel or MAX_PARALLEL))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(hosts, pool.map(one, hosts), strict=True))
