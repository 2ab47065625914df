"""Everything the checks look at, read from a host in one command.

The probe is a shell script run through ``sudo``. Each section runs one command; its exit code
and its output (base64, so file contents come back byte for byte) are printed on one line,
which ``parse`` splits again. The checks then assert on the sections without another round trip.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from provision.docker.dpkg import query_command
from provision.docker.layout import APT_PROXY, DAEMON_JSON, KEYRING, PROXY_DROPIN, SOURCES
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

_PRELUDE = (
    "t=$(mktemp) || exit 1\n"
    "trap 'rm -f \"$t\"' EXIT\n"
    f'p() {{ printf \'%s %s %s \' \'{MARK}\' "$1" "$2"; base64 -w0 <"$t"; echo; }}\n'
)


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
    image = shlex.quote(settings.docker_verify_image)
    run = f"timeout {CONTAINER_TIMEOUT_S} docker run --rm {image}"
    return {
        "os_release": "cat /etc/os-release",
        "arch": "dpkg --print-architecture",
        "packages": query_command(names),
        "keyring": f"cat {KEYRING}",
        "keyring_stat": f"stat -c '%U %G %a' {KEYRING}",
        "keyrings_dir_stat": "stat -c '%U %G %a' /etc/apt/keyrings",
        "sources": f"cat {SOURCES}",
        "sources_stat": f"stat -c '%U %G %a' {SOURCES}",
        **{f"active:{unit}": f"systemctl is-active {unit}" for unit in UNITS},
        **{f"enabled:{unit}": f"systemctl is-enabled {unit}" for unit in UNITS},
        "group": "getent group docker",
        **{f"groups:{user}": f"id -Gn {shlex.quote(user)}" for user in settings.docker_users},
        "socket_stat": f"stat -c '%F %U %G %a' {SOCKET}",
        "docker_info": "docker info --format '{{json .}}'",
        "daemon_json": f"cat {DAEMON_JSON}",
        "daemon_json_stat": f"stat -c '%U %G %a' {DAEMON_JSON}",
        "world_writable": f"find {' '.join(WRITTEN_DIRS)} -maxdepth 1 ! -type l -perm -o+w",
        "listening": "ss -Hltn",
        "proxy_dropin": f"cat {PROXY_DROPIN}",
        "apt_proxy": f"cat {APT_PROXY}",
        "container": load_command(settings) + run,
        "log_config": (
            f"c=$(docker create {image}) && "
            "docker inspect --format '{{json .HostConfig.LogConfig}}' \"$c\"; "
            's=$?; docker rm "$c" >/dev/null 2>&1; exit "$s"'
        ),
        **rootless_commands(settings, load_command(settings) + run),
    }


def rootless_commands(settings: DockerSettings, run: str) -> dict[str, str]:
    """Per rootless user: groups, ``docker info`` and ``run`` as the user, against the user's
    daemon (``DOCKER_HOST``), without sudo."""
    sections = {}
    for user in settings.docker_rootless_users:
        quoted = shlex.quote(user)
        uid = '"$u"'
        client = as_user(user, uid, f"DOCKER_HOST={docker_host(uid)} sh -c")
        prefix = f"u=$(id -u {quoted}) && cd / && {client}"
        sections[f"rootless_groups:{user}"] = f"id -Gn {quoted}"
        info = "docker info --format '{{json .SecurityOptions}}'"
        sections[f"rootless_info:{user}"] = f"{prefix} {shlex.quote(info)}"
        sections[f"rootless_container:{user}"] = f"{prefix} {shlex.quote(run)}"
    return sections


def load_command(settings: DockerSettings) -> str:
    """Load the verification image from ``docker_verify_image_url`` unless it is there; with
    ``docker_verify_image_sha256`` the archive is checked before ``docker load`` reads it."""
    url = settings.docker_verify_image_url
    if not url:
        return ""
    image = shlex.quote(settings.docker_verify_image)
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
        f"if ! docker image inspect {image} >/dev/null 2>&1; then "
        f'a=$(mktemp) && curl -fsSL {shlex.quote(url)} -o "$a" || exit 1; {check}'
        'docker load -i "$a"; s=$?; rm -f "$a"; [ "$s" = 0 ] || exit "$s"; fi; '
    )


def docker_info(section: Section) -> dict:
    """``docker info`` as JSON (the daemon's part is missing when it cannot be reached)."""
    lines = [line for line in section.text.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}


def render(sections: dict[str, str]) -> str:
    """One shell script running each ``{name: command}`` and printing it as a section.

    Sections are printed by number (names hold host data, such as user names).
    """
    lines = [
        f'( {command} ) >"$t" 2>&1 </dev/null; p {index} $?'
        for index, command in enumerate(sections.values())
    ]
    return _PRELUDE + "\n".join(lines) + "\n"


def parse(output: str, names: list[str]) -> dict[str, Section]:
    """``{name: Section}`` from the output of ``render`` for sections ``names`` (in order);
    lines that are not sections are ignored."""
    sections = {}
    for line in output.splitlines():
        parts = line.split(" ")
        if len(parts) != 4 or parts[0] != MARK or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        if int(parts[1]) >= len(names):
            continue
        try:
            output_bytes = base64.b64decode(parts[3], validate=True)
        except binascii.Error:
            continue
        sections[names[int(parts[1])]] = Section(int(parts[2]), output_bytes)
    return sections


class ProbeError(Exception):
    """A host whose probe did not run; the message names the host and the cause."""


def probe(host, settings: DockerSettings) -> dict[str, Section]:
    """Run the probe on a testinfra ``host``; raises ``ProbeError`` when it could not run."""
    wanted = commands(settings)
    result = host.run("sudo -n sh -c %s", render(wanted))
    sections = parse(result.stdout, list(wanted))
    if not sections:
        detail = (result.stderr.strip().splitlines() or [f"exit code {result.rc}"])[-1]
        raise ProbeError(
            f"{host.backend.get_hostname()}: the checks could not read the host ({detail}); "
            "they need SSH access and passwordless sudo."
        )
    return sections


def probe_all(hosts: dict, settings_of, parallel: int | None = None) -> dict:
    """``{name: sections or ProbeError}`` for testinfra ``hosts`` (``{name: host}``), at once."""

    def one(name):
        try:
            return probe(hosts[name], settings_of(name))
        except ProbeError as error:
            return error

    workers = max(1, min(len(hosts), parallel or MAX_PARALLEL))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(hosts, pool.map(one, hosts), strict=True))
