"""Fakes for the unit tests: a host described in plain data, whose facts are produced by the
real fact parsers from the output the real commands would print."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from shlex import quote

import pytest
from pyinfra.connectors.fake import FakeConnector
from pyinfra.connectors.util import CommandOutput, OutputLine

from provision.docker.daemon import daemon_config, daemon_json
from provision.docker.deploy import (
    APT_PROXY,
    DAEMON_JSON,
    DOCKER_LOGIN,
    KEYRING,
    LEGACY_KEYRING,
    PREREQUISITES,
    PROXY_DROPIN,
    SOURCES,
    sources_text,
)
from provision.docker.facts import (
    BACKUP,
    FAILED,
    AptSources,
    Backup,
    CandidateVersions,
    DaemonDowntime,
    DockerData,
    Download,
    FileContent,
    OsTarget,
    Packages,
    Paths,
    PolicyCandidates,
    ServiceState,
    Users,
    is_source_path,
)
from provision.docker.hardening import AUDIT_PACKAGES
from provision.docker.layout import WRITTEN_FILES
from provision.docker.preflight import MARK as PREFLIGHT
from provision.docker.preflight import RepositoryOffer
from provision.docker.rootless import EXTRAS, HOST_PACKAGES, RootlessUsers
from provision.docker.rootless_layout import SUBID_FILES, UNIT_TEXT, USER_UNIT
from provision.docker.settings import DockerSettings

DATA = Path(__file__).with_name("data")
DOCKER_KEY = (DATA / "docker.asc").read_bytes()  # Docker's published apt signing key
DOCKER_SUBKEY = "D3306A018370199E527AE7997EA0A9C3F273FCD8"

BOOKWORM = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""

DOCKER_VERSION = "5:26.1.5-1~debian.12~bookworm"
PACKAGE_VERSIONS = {
    "docker-ce": DOCKER_VERSION,
    "docker-ce-cli": DOCKER_VERSION,
    "containerd.io": "1.7.19-1",
    "docker-buildx-plugin": "0.16.1-1~debian.12~bookworm",
    "docker-compose-plugin": "2.29.1-1~debian.12~bookworm",
    "ca-certificates": "20230311",
    "curl": "7.88.1-10+deb12u6",
}


def synthetic_key(seed: bytes) -> bytes:
    """A binary OpenPGP stream with one v4 public-key packet (old format, tag 6)."""
    body = b"\x04" + b"\x5f\x00\x00\x00" + b"\x16" + seed
    return bytes([0x80 | (6 << 2) | 1]) + len(body).to_bytes(2, "big") + body


def v4_fingerprint(packet: bytes) -> str:
    """RFC 4880 section 12.2, written out independently of the code under test."""
    body = packet[3:]
    return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()


@dataclass
class FakeMachine:
    """What a Debian/Ubuntu host would report; facts are parsed from simulated command output."""

    os_release: str = BOOKWORM
    arch: str = "amd64"
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (status, ver)
    dpkg_interrupted: bool = False
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # mode, owner, data
    urls: dict[str, bytes] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)
    group: set[str] | None = None  # members of the docker group, None: no such group
    users: set[str] = field(default_factory=lambda: {"root"})
    services: dict[str, tuple[str, str]] = field(default_factory=dict)
    candidates: dict[str, list[str]] = field(default_factory=dict)  # apt-cache madison
    policy: dict[str, str] = field(default_factory=dict)  # apt-cache policy: the candidate
    # what Docker's repository offers, as apt reads it (None: every package, as PACKAGE_VERSIONS
    # and candidates say), and what its apt-get update prints and exits with
    index: dict[str, list[str]] | None = None
    update: tuple[list[str], int] = (["Reading package lists..."], 0)
    docker_data: tuple[str, int, int, int] | None = None  # root, images, containers, volumes
    accounts: dict[str, str] = field(default_factory=dict)  # user -> its getent passwd line
    builders: dict[tuple[str, str], str] = field(default_factory=dict)  # (user, name) -> driver
    # rootless Docker per user: (uid, lingering, is-active, is-enabled); users not listed have
    # uid 1000 and no rootless Docker
    rootless: dict[str, tuple[int, bool, str, str]] = field(default_factory=dict)
    # docker's last stop and start (systemd's monotonic µs), as after a restart
    daemon_cycle: tuple[int, int] = (0, 5_000_000)
    # the first command's answer as printed, when not each fact's output framed (a broken host)
    snapshot: list[str] | None = None
    # lines a fact's command prints after its answer (what a user's code run in it would print)
    forged: dict[type, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, dict]] = field(default_factory=list)

    def printed(self, cls, **kwargs) -> list[str]:
        """The stdout lines the fact's command prints: its answer, then ``forged``."""
        return [*self.output(cls, **kwargs), *self.forged.get(cls, [])]

    def output(self, cls, **kwargs) -> list[str]:
        """The stdout lines the fact's command would print on this machine: ``OUTPUTS``' handler
        for the fact, given the fact's arguments (each reads those it needs)."""
        handler = OUTPUTS.get(cls) or OUTPUTS.get(cls.__name__)
        if handler is None:
            raise AssertionError(f"unexpected fact {cls.__name__}")
        return handler(self, **kwargs)

    def _os_target(self, **_) -> list[str]:
        return [*self.os_release.splitlines(), "---", self.arch]

    def _packages(self, packages, **_) -> list[str]:
        lines = [
            f"{name} {status:<3} {version}"
            for name in packages
            if name in self.packages
            for status, version in [self.packages[name]]
        ]
        return lines + (["DPKG-INTERRUPTED"] if self.dpkg_interrupted else [])

    def _file_content(self, path, **_) -> list[str]:
        if path not in self.files:
            return []
        mode, owner, content = self.files[path]
        return [f"{mode} {owner}", base64.b64encode(content).decode()]

    def _backup(self, path, **_) -> list[str]:
        """The newest PATH.provision-backup-STAMP."""
        backups = sorted(p for p in self.files if p.startswith(path + BACKUP))
        if not backups:
            return []
        return [backups[-1], base64.b64encode(self.files[backups[-1]][2]).decode()]

    def _download(self, url, **_) -> list[str]:
        """apt-helper download-file."""
        if url not in self.urls:
            return ["E: Failed to fetch " + url + "  404  Not Found", FAILED]
        return [base64.b64encode(self.urls[url]).decode()]

    def _paths(self, patterns, **_) -> list[str]:
        """find DIR -maxdepth 1 -name NAME, per pattern."""
        return [
            path
            for pattern in patterns
            for path in sorted(self.paths)
            if path.rpartition("/")[0] == pattern.rpartition("/")[0]
            and fnmatchcase(path.rpartition("/")[2], pattern.rpartition("/")[2])
        ]

    def _apt_sources(self, **_) -> list[str]:
        """Per sources file apt reads: PATH MODE OWNER BASE64."""
        return [
            f"{path} {mode} {owner} {b64(content)}"
            for path, (mode, owner, content) in sorted(self.files.items())
            if is_source_path(path)
        ]

    def _users(self, group, users, **_) -> list[str]:
        lines = (
            ["nogroup"] if self.group is None else [f"{group}:x:999:{','.join(sorted(self.group))}"]
        )
        return lines + [f"missing:{u}" for u in users if u not in self.users]

    def _rootless_users(self, users, **_) -> list[str]:
        lines = []
        for user in users:
            name = b64(user.encode())
            if user not in self.users:
                lines.append(f"{name} missing")
                continue
            uid, linger, active, enabled = self.rootless.get(
                user, (1000, False, "unknown", "unknown")
            )
            said = [  # what the user's systemctl printed, in base64 (``-``: nothing)
                "-" if state == "unknown" else b64(f"{state}\n".encode())
                for state in (active, enabled)
            ]
            lines.append(f"{name} {uid} {'yes' if linger else 'no'} {' '.join(said)}")
        return lines

    def _daemon_downtime(self, **_) -> list[str]:
        """systemctl show UNIT -p ActiveExit... -p ActiveEnter..."""
        left, entered = self.daemon_cycle
        return [
            f"ActiveEnterTimestampMonotonic={entered}",
            f"ActiveExitTimestampMonotonic={left}",
        ]

    def _service_state(self, units, **_) -> list[str]:
        """systemctl show --property=Id,ActiveState,UnitFileState."""
        lines = []
        for unit in units:
            active, enabled = self.services.get(unit, ("inactive", ""))
            unit_id = unit if "." in unit else f"{unit}.service"
            lines += [f"Id={unit_id}", f"ActiveState={active}", f"UnitFileState={enabled}", ""]
        return lines

    def _repository_offer(self, packages, **_) -> list[str]:
        """apt-get update, its status, apt-cache madison."""
        offered = self.offered()
        lines, status = self.update
        return [
            f"{PREFLIGHT}update",
            *lines,
            f"{PREFLIGHT}status",
            str(status),
            f"{PREFLIGHT}madison",
            *[
                f"{name} | {version} | http://repo bookworm/stable amd64 Packages"
                for name in packages
                for version in offered.get(name, [])
            ],
        ]

    def _account(self, user, **_) -> list[str]:
        line = self.accounts.get(user)
        return [line] if line else []

    def _builder(self, user, builder, **_) -> list[str]:
        driver = self.builders.get((user, builder))
        return [f"Name: {builder}", f"Driver: {driver}"] if driver else []

    def _docker_data(self, **_) -> list[str]:
        return [] if self.docker_data is None else [" ".join(map(str, self.docker_data))]

    def _candidate_versions(self, package, **_) -> list[str]:
        return [f" {v} " for v in self.candidates.get(package, [])]

    def _policy_candidates(self, packages, **_) -> list[str]:
        lines = []
        for name in packages:
            if name in self.policy or name in self.packages:
                installed = self.packages.get(name, ("", "(none)"))[1]
                lines += [
                    f"{name}:",
                    f"  Installed: {installed}",
                    f"  Candidate: {self.policy.get(name, installed)}",
                    "  Version table:",
                ]
        return lines

    def offered(self) -> dict[str, list[str]]:
        """What Docker's repository offers this host: ``index``, else every package."""
        if self.index is not None:
            return self.index
        every = {name: [version] for name, version in PACKAGE_VERSIONS.items()}
        every.setdefault("docker-ce-rootless-extras", [DOCKER_VERSION])
        return {**every, **self.candidates}

    def fact(self, cls, *args, **kwargs):
        """``host.get_fact`` as pyinfra does it: ``process`` on output, ``default`` on none."""
        self.calls.append((cls.__name__, kwargs))
        fact = cls()
        lines = self.output(cls, **kwargs)
        return fact.process(lines) if lines else fact.default()


# fact class (or, for the profiles' facts, its name) -> the FakeMachine method printing its output
OUTPUTS = {
    OsTarget: FakeMachine._os_target,
    Packages: FakeMachine._packages,
    FileContent: FakeMachine._file_content,
    Backup: FakeMachine._backup,
    Download: FakeMachine._download,
    Paths: FakeMachine._paths,
    AptSources: FakeMachine._apt_sources,
    Users: FakeMachine._users,
    RootlessUsers: FakeMachine._rootless_users,
    DaemonDowntime: FakeMachine._daemon_downtime,
    ServiceState: FakeMachine._service_state,
    RepositoryOffer: FakeMachine._repository_offer,
    "Account": FakeMachine._account,
    "Builder": FakeMachine._builder,
    DockerData: FakeMachine._docker_data,
    CandidateVersions: FakeMachine._candidate_versions,
    PolicyCandidates: FakeMachine._policy_candidates,
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fresh_machine(**changes) -> FakeMachine:
    """A minimal Debian 12 host: no Docker, no curl, nothing configured."""
    return FakeMachine(**{"users": {"root", "alice"}, **changes})


def converged_machine(settings: DockerSettings | None = None, key: bytes = DOCKER_KEY):
    """A host exactly as ``install_docker`` leaves it with ``settings``."""
    settings = settings or DockerSettings()
    installed = {n: ("ii", PACKAGE_VERSIONS.get(n, "1.0-1")) for n in settings.docker_packages}
    installed.update({name: ("ii", PACKAGE_VERSIONS[name]) for name in PREREQUISITES})
    for name in settings.holds():
        installed[name] = ("hi", installed[name][1])
    sources = sources_text(settings, "debian", "bookworm", "amd64").encode()
    config = daemon_json(daemon_config(settings, installed["docker-ce"][1])).encode()
    rootless = list(settings.docker_rootless_users)
    files = {}
    if rootless:
        installed.update({n: ("ii", "1.0-1") for n in HOST_PACKAGES})
        installed.setdefault(EXTRAS, ("ii", PACKAGE_VERSIONS["docker-ce"]))
        ranges = "".join(
            f"{user}:{100000 + 65536 * i}:65536\n" for i, user in enumerate(rootless)
        ).encode()
        files = {path: ("644", "root:root", ranges) for path in SUBID_FILES}
        files[USER_UNIT] = ("644", "root:root", UNIT_TEXT.encode())
    return FakeMachine(
        packages=installed,
        files={
            KEYRING: ("644", "root:root", key),
            SOURCES: ("644", "root:root", sources),
            DAEMON_JSON: ("644", "root:root", config),
            **files,
        },
        urls={settings.key_url("debian"): key},
        group=set(settings.docker_users),
        users={"root", *settings.docker_users, *rootless},
        rootless={u: (1001 + i, True, "active", "enabled") for i, u in enumerate(rootless)},
        services={
            "docker": ("active", "enabled"),
            "docker.socket": ("active", "enabled"),
            "containerd": ("active", "enabled"),
        },
        candidates={"docker-ce": [DOCKER_VERSION], "docker-ce-cli": [DOCKER_VERSION]},
    )


def fake_responses(
    machine: FakeMachine, settings: DockerSettings | None = None, extra: list | tuple = ()
) -> dict:
    """``fake_responses`` for pyinfra's ``@fake`` connector: every fact command the Docker
    deploys run (and the ``extra`` queries of a profile), answered with what ``machine`` would
    print; refusals (``exit 1``) fail with their own sentence."""
    from provision.core.snapshot import Snapshot, plan
    from provision.docker.deploy import DATA_DIRS, STALE_PATHS, install_queries

    settings = settings or DockerSettings()
    packages = list(settings.docker_packages)
    queries: list[tuple[type, dict]] = [
        (OsTarget, {}),
        (Packages, {"packages": list(settings.docker_obsolete_packages)}),
        (Packages, {"packages": PREREQUISITES}),
        (Packages, {"packages": packages}),
        (Packages, {"packages": [*packages, "docker-ce-rootless-extras"]}),
        (ServiceState, {"units": ["docker", "containerd"]}),
        (Paths, {"patterns": STALE_PATHS}),
        (Paths, {"patterns": DATA_DIRS}),
        (Users, {"group": "docker", "users": list(settings.docker_users)}),
        *[(FileContent, {"path": path}) for path in (*WRITTEN_FILES, DOCKER_LOGIN, LEGACY_KEYRING)],
        (Packages, {"packages": AUDIT_PACKAGES}),
        *[(ServiceState, {"units": [unit]}) for unit in ("containerd", "docker", "docker.socket")],
        *[(Backup, {"path": path}) for path in (DAEMON_JSON, PROXY_DROPIN, APT_PROXY)],
        (DockerData, {}),
        *[(DaemonDowntime, {"unit": unit}) for unit in ("containerd", "docker")],
        *[(CandidateVersions, {"package": name}) for name in ("docker-ce", "docker-ce-cli")],
        (PolicyCandidates, {"packages": packages}),
        (RootlessUsers, {"users": list(settings.docker_rootless_users)}),
        *[(FileContent, {"path": path}) for path in (*SUBID_FILES, USER_UNIT)],
        (Packages, {"packages": HOST_PACKAGES}),
        (Packages, {"packages": [EXTRAS]}),
        (CandidateVersions, {"package": EXTRAS}),
    ]
    queries.append((AptSources, {}))
    for distro in ("ubuntu", "debian", "raspbian"):
        queries.append((Download, {"url": settings.key_url(distro)}))
    # the fake connector answers the first matcher found in a command: the snapshot holds
    # every fact command, so it must come first
    queries += [*extra, *[(Download, {"url": url}) for url in machine.urls]]
    snapshot = plan([*install_queries(settings), *extra])
    responses: dict = {
        Snapshot().command(snapshot): machine.snapshot
        if machine.snapshot is not None
        else [
            snapshot_line(index, machine.printed(cls, **kwargs))
            for index, (cls, kwargs) in enumerate(snapshot)
        ]
    }
    responses.update(
        {cls().command(**kwargs): machine.printed(cls, **kwargs) for cls, kwargs in queries}
    )
    for url in machine.urls:
        responses[f"download-file {shlex.quote(url)} "] = machine.output(Download, url=url)
    responses[" download-file "] = machine.output(Download, url="")  # substrings match
    responses[f"{PREFLIGHT}update"] = {
        "stdout": machine.output(RepositoryOffer, packages=list(machine.offered()))
    }
    # a fact command this fake was not told about fails loudly instead of reading as empty
    responses[re.compile("|".join(map(re.escape, FACT_MARKERS)))] = {
        "success": False,
        "stderr": ["the fake host has no answer for this fact command"],
    }
    return responses


def snapshot_line(index: int, lines: list[str]) -> str:
    """The line the snapshot prints for section ``index`` whose command printed ``lines``."""
    from provision.core.snapshot import MARK

    data = "".join(f"{line}\n" for line in lines).encode()
    encoded = base64.b64encode(data).decode()
    return f"{MARK} {index} {len(encoded)} {encoded}"


REFUSAL = re.compile(r"^echo '.*' >&2; exit 1$", re.DOTALL)


def refusal_of(commands: list[str]) -> str | None:
    """The sentence a refusal command prints, read by running it as the host would."""
    for command in commands:
        if REFUSAL.match(command):
            done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
            assert done.returncode == 1
            return done.stderr.strip()
    return None


class Commands(list):
    """Commands as strings, with what each got on its standard input."""

    def __init__(self, commands=(), stdin: dict[str, str | None] | None = None):
        commands = list(commands)
        super().__init__(str(command) for command in commands)
        self.stdin = dict(stdin or {})
        for command in commands:
            arguments = getattr(command, "connector_arguments", {})
            if arguments.get("_stdin") is not None:
                self.stdin[str(command)] = arguments["_stdin"]


def written(commands: Commands, path: str | None = None) -> bytes:
    """The bytes the ``write_file`` command to ``path`` (or the only one) sends on stdin."""
    ends = [
        c
        for c in commands
        if path is None or c.endswith(f"mv -f {quote(path + '.provision-tmp')} {quote(path)}")
    ]
    writes = [c for c in ends if 'IFS= read -r line && printf %s "$line" | base64 -d > ' in c]
    assert len(writes) == 1, commands
    return base64.b64decode(commands.stdin.get(writes[0]) or "")


@pytest.fixture(autouse=True)
def fake_hosts_run_refusals(monkeypatch):
    """The ``@fake`` connector answers a refusal with the output it has on a host, and keeps
    what each command got on its standard input (``stdin_of``)."""
    original = FakeConnector._lookup_response
    run = FakeConnector.run_shell_command

    def run_shell_command(self, command, *args, **arguments):
        if not hasattr(self, "stdin_of"):
            self.stdin_of = {}
        merged = {**arguments, **getattr(command, "connector_arguments", {})}
        if merged.get("_stdin") is not None:
            text = command if isinstance(command, str) else command.get_masked_value()
            self.stdin_of[text] = merged["_stdin"]
        return run(self, command, *args, **arguments)

    monkeypatch.setattr(FakeConnector, "run_shell_command", run_shell_command)

    def lookup(self, command: str):
        if REFUSAL.match(command):
            message = refusal_of([command])
            return False, CommandOutput([OutputLine("stderr", message)])
        return original(self, command)

    monkeypatch.setattr(FakeConnector, "_lookup_response", lookup)


FACT_MARKERS = (
    "cat /etc/os-release",
    "dpkg-query -W",
    "-mindepth 1 -maxdepth 1 \\( \\( -path",
    "for f in /etc/apt/sources.list ",
    "=====provision-fact",
    "if [ -f ",
    "curl -K - --globoff ",
    "getent group",
    "systemctl show --property=Id,ActiveState,UnitFileState",
    "-p ActiveExitTimestampMonotonic",
    "apt-cache madison",
    "apt-cache policy",
    "apt-helper",
    PREFLIGHT,
    "docker info --format",
    "getent passwd",
    "docker buildx inspect",
    "/var/lib/systemd/linger/",
    "b=; for f in ",  # Backup
)


def is_fact_command(command: str) -> bool:
    return any(marker in command for marker in FACT_MARKERS)
