"""The Docker host checks (``provision/verify/test_docker.py``) on probe results of converged
and drifted hosts: each passes on what a converged host prints and fails, naming what is
wrong, on each drift."""

from __future__ import annotations

import posixpath
from types import SimpleNamespace

import pytest

from provision.docker import daemon
from provision.docker.dpkg import parse_query
from provision.docker.layout import (
    APT_PROXY,
    APT_PROXY_LOGIN,
    AUDIT_RULES,
    DAEMON_JSON,
    KEYRING,
    SOURCES,
)
from provision.docker.settings import DockerSettings
from provision.verify import probe
from provision.verify import test_docker as checks
from provision.verify.probe import Section

from .converged_probe import PLAIN, converged, info, ok, tar, written_files
from .fakes import DOCKER_KEY, DOCKER_VERSION, PACKAGE_VERSIONS, synthetic_key

USERS = DockerSettings(docker_users=("alice",))
ROOTLESS = DockerSettings(docker_rootless_users=("bob",))
HOST = SimpleNamespace(backend=SimpleNamespace(get_hostname=lambda: "lab1"))


def run_all(seen: dict[str, Section], settings: DockerSettings) -> None:
    """Every check of the Docker suite, as pytest would call it for one host."""
    files = probe.files(seen["files"])
    packages = parse_query(seen["packages"].text.splitlines())
    checks.test_packages_installed(packages, settings)
    checks.test_pinned_versions(packages, settings)
    checks.test_holds(packages, settings)
    checks.test_no_conflicting_packages(packages, settings)
    checks.test_signing_key(files, settings)
    checks.test_sources_file(HOST, seen, files, settings)
    for unit in probe.UNITS:
        checks.test_service(seen, settings, unit)
    checks.test_docker_group_and_users(seen, settings)
    checks.test_socket_permissions(seen)
    checks.test_daemon_reachable(seen)
    for plugin in probe.PLUGINS:
        checks.test_cli_plugin(seen, plugin)
    checks.test_running_engine_is_the_installed_one(seen, packages)
    checks.test_daemon_json(files, packages, settings)
    checks.test_daemon_runs_with_its_configuration(seen, packages, settings)
    checks.test_proxy_dropin(files, packages, settings)
    checks.test_audit_rules(files, settings)
    checks.test_apt_proxy(files, settings)
    checks.test_new_containers_get_the_log_options(seen, packages, settings)
    checks.test_no_world_writable_paths(seen)
    checks.test_no_plain_tcp_listener(seen, settings)
    checks.test_container_runs(seen, settings)
    if settings.docker_rootless_users:
        checks.test_rootless_users(seen, settings)


@pytest.mark.parametrize("settings", [PLAIN, USERS, ROOTLESS], ids=["plain", "users", "rootless"])
def test_a_converged_host_passes_every_check(settings):
    run_all(converged(settings), settings)


def packages(**changes: str | None) -> Section:
    """The ``packages`` section of a converged host, ``{name: "status version"}`` changed
    (None: not installed)."""
    lines = {name: f"ii {PACKAGE_VERSIONS[name]}" for name in PLAIN.docker_packages}
    lines.update(changes)
    return ok("".join(f"{name} {line}\n" for name, line in lines.items() if line))


def files(**changes: tuple[str, bytes | None] | None) -> Section:
    """The ``files`` section of a converged host with ``{path: (mode, content)}`` changed
    (None: missing); keyword names are the paths' keys in ``PATHS``."""
    found = written_files(PLAIN)
    for key, value in changes.items():
        found.pop(PATHS[key], None)
        if value is not None:
            found[PATHS[key]] = value
    return tar(found)


def units(docker: str) -> Section:
    """The ``units`` section with docker.service's ``ActiveState``/``UnitFileState``."""
    active, enabled = docker.split("/")
    return ok(
        "Id=containerd.service\nActiveState=active\nUnitFileState=enabled\n"
        "Id=docker.socket\nActiveState=active\nUnitFileState=enabled\n"
        f"Id=docker.service\nActiveState={active}\nUnitFileState={enabled}\n"
    )


PATHS = {
    "keyring": KEYRING,
    "keyrings": posixpath.dirname(KEYRING),
    "sources": SOURCES,
    "daemon_json": DAEMON_JSON,
    "dropin": daemon.PROXY_DROPIN,
    "audit": AUDIT_RULES,
    "apt_proxy": APT_PROXY,
    "apt_login": APT_PROXY_LOGIN,
}
PLUGINS = [{"Name": "buildx", "Version": "v0.16.1"}, {"Name": "compose", "Version": "v2.29.1"}]
SUITE = "provision.verify.test_docker"

# (check, section, what the host prints there, what the failure says)
DRIFTS = [
    (
        "test_packages_installed",
        "packages",
        packages(**{"docker-ce": None}),
        "not installed: docker-ce",
    ),
    (
        "test_holds",
        "packages",
        packages(**{"docker-ce": f"hi {DOCKER_VERSION}"}),
        "held: ['docker-ce']",
    ),
    (
        "test_no_conflicting_packages",
        "packages",
        packages(**{"docker.io": "ii 26.1.5+dfsg1-1"}),
        "conflicting packages installed: docker.io",
    ),
    ("written", "files", files(keyring=None), f"{KEYRING} is missing"),
    ("written", "files", files(keyring=("600", DOCKER_KEY)), "owner, mode: root root 600"),
    ("written", "files", files(keyring=("755", None)), "is a directory, not a regular file"),
    ("test_signing_key", "files", files(keyrings=("777", None)), "/etc/apt/keyrings owner, mode"),
    (
        "test_signing_key",
        "files",
        files(keyring=("644", synthetic_key(b"x" * 32))),
        f"{KEYRING} holds",
    ),
    ("test_sources_file", "files", files(sources=("644", b"Types: deb\n")), ""),
    ("test_sources_file", "arch", ok("arm64\n"), ""),
    ("test_service", "units", units("inactive/enabled"), "docker is not running"),
    ("test_service", "units", units("active/disabled"), "docker is not enabled"),
    ("test_docker_group_and_users", "group", Section(2, b""), "the docker group is missing"),
    (
        "test_socket_permissions",
        "socket_stat",
        Section(1, b"No such file\n"),
        f"{probe.SOCKET} is missing",
    ),
    (
        "test_socket_permissions",
        "socket_stat",
        ok("socket root root 666\n"),
        "socket root root 666",
    ),
    (
        "test_daemon_reachable",
        "docker_info",
        Section(1, b"Cannot connect to the Docker daemon\n"),
        "the daemon does not answer: Cannot connect",
    ),
    (
        "test_cli_plugin",
        "docker_info",
        info(PLAIN, ClientInfo={"Plugins": PLUGINS[:1]}),
        "docker compose is missing",
    ),
    (
        "test_cli_plugin",
        "docker_info",
        info(
            PLAIN,
            ClientInfo={"Plugins": [PLUGINS[0], {"Name": "compose", "Err": "not executable"}]},
        ),
        "not executable",
    ),
    (
        "test_cli_plugin",
        "docker_info",
        info(PLAIN, ClientInfo={"Plugins": [PLUGINS[0], {"Name": "compose", "Version": "dev"}]}),
        "'Version': 'dev'",
    ),
    (
        "test_running_engine_is_the_installed_one",
        "docker_info",
        info(PLAIN, ServerVersion="27.0.1"),
        "the running daemon is 27.0.1",
    ),
    ("test_daemon_json", "files", files(daemon_json=("644", b'{"log-driver": "local"}')), ""),
    (
        "written",
        "files",
        files(
            daemon_json=(
                "600",
                daemon.daemon_json(daemon.daemon_config(PLAIN, DOCKER_VERSION)).encode(),
            )
        ),
        "owner, mode: root root 600",
    ),
    (
        "test_daemon_runs_with_its_configuration",
        "docker_info",
        info(PLAIN, LoggingDriver="local"),
        "log driver",
    ),
    (
        "test_daemon_runs_with_its_configuration",
        "docker_info",
        info(PLAIN, LiveRestoreEnabled=True),
        "live restore",
    ),
    (
        "test_daemon_runs_with_its_configuration",
        "docker_info",
        info(PLAIN, RegistryConfig={"Mirrors": ["https://m.example/"]}),
        "mirrors",
    ),
    (
        "test_daemon_runs_with_its_configuration",
        "docker_info",
        info(PLAIN, HttpProxy="http://proxy.example:3128"),
        "HttpProxy of docker",
    ),
    ("test_proxy_dropin", "files", files(dropin=("644", b"[Service]\n")), "is left over"),
    (
        "test_audit_rules",
        "files",
        files(audit=("640", b"-w /usr/bin/dockerd\n")),
        f"{AUDIT_RULES} is left over",
    ),
    (
        "test_apt_proxy",
        "files",
        files(apt_proxy=("644", b"Acquire::http::Proxy 1;\n")),
        f"{APT_PROXY} is different",
    ),
    (
        "test_apt_proxy",
        "files",
        files(apt_login=("600", b"machine x\n")),
        f"{APT_PROXY_LOGIN} is left over",
    ),
    (
        "test_new_containers_get_the_log_options",
        "log_config",
        Section(1, b"No such file\n"),
        "no verification container",
    ),
    (
        "test_new_containers_get_the_log_options",
        "log_config",
        ok('{"Type": "local", "Config": {}}\n'),
        "",
    ),
    (
        "test_no_world_writable_paths",
        "world_writable",
        ok("/etc/docker\n"),
        "world-writable: /etc/docker",
    ),
    (
        "test_no_plain_tcp_listener",
        "listening",
        ok("LISTEN 0 4096 *:2375 *:*\n"),
        "dockerd listens on TCP 2375",
    ),
    ("test_no_plain_tcp_listener", "listening", Section(127, b"ss: not found\n"), "ss: not found"),
    (
        "test_container_runs",
        "container",
        Section(125, b"pull access denied\n"),
        "docker run hello-world failed: pull access denied",
    ),
    (
        "test_container_runs",
        "container",
        ok("Hello from the lab\n"),
        "printed 'Hello from the lab', not 'Hello from Docker!'",
    ),
]


def failing_check(seen: dict[str, Section], settings: DockerSettings) -> pytest.ExceptionInfo:
    with pytest.raises((AssertionError, pytest.fail.Exception)) as failed:
        run_all(seen, settings)
    return failed


def check_of(failed: pytest.ExceptionInfo) -> str:
    """The suite's function whose assertion failed (the innermost of the suite's frames)."""
    names = [entry.name for entry in failed.traceback if entry.frame.f_globals["__name__"] == SUITE]
    return names[-1]


@pytest.mark.parametrize(("check", "section", "printed", "said"), DRIFTS)
def test_each_drift_fails_its_check_saying_what_is_wrong(check, section, printed, said):
    failed = failing_check({**converged(), section: printed}, PLAIN)
    assert check_of(failed) == check
    assert said in str(failed.value)


# settings a converged default host does not meet: (check, settings, what the failure says)
UNMET = [
    ("test_pinned_versions", DockerSettings(docker_version="27.5"), "docker_version is 27.5"),
    ("test_holds", DockerSettings(docker_hold=True), "held: none"),
    (
        "test_packages_installed",
        DockerSettings(docker_packages=(*PLAIN.docker_packages, "docker-ce-rootless-extras")),
        "not installed: docker-ce-rootless-extras",
    ),
    (
        "test_signing_key",
        DockerSettings(docker_gpg_fingerprint="A" * 40),
        f"must trust key {'A' * 40} alone",
    ),
    ("test_service", DockerSettings(docker_service_state="stopped"), "containerd is running"),
    ("test_service", DockerSettings(docker_service_enabled=False), "containerd is enabled"),
    ("test_daemon_json", DockerSettings(docker_log_driver="local"), ""),
    (
        "test_daemon_json",
        DockerSettings(docker_proxy={"http": "http://proxy.example:3128"}),
        "",
    ),
    ("test_audit_rules", DockerSettings(docker_audit_rules=True), f"{AUDIT_RULES} is missing"),
    (
        "test_apt_proxy",
        DockerSettings(apt_proxy="http://proxy.example:3142"),
        f"{APT_PROXY} is missing",
    ),
    (
        "test_container_runs",
        DockerSettings(docker_verify_output="Hello from the lab"),
        "not 'Hello from the lab'",
    ),
]


@pytest.mark.parametrize(("check", "settings", "said"), UNMET)
def test_settings_the_host_does_not_meet_fail_their_check(check, settings, said):
    failed = failing_check(converged(), settings)
    assert check_of(failed) == check
    assert said in str(failed.value)


ROOTLESS_DRIFTS = [
    (
        "rootless_groups:bob",
        Section(1, b"id: 'bob': no such user\n"),
        "bob: id: 'bob': no such user",
    ),
    ("rootless_groups:bob", ok("bob docker\n"), "bob is in the docker group"),
    (
        "rootless_info:bob",
        Section(1, b"Cannot connect\n"),
        "bob's rootless daemon does not answer: Cannot connect",
    ),
    ("rootless_info:bob", ok("seccomp\n"), "bob's rootless daemon does not answer"),
    (
        "rootless_container:bob",
        Section(125, b"denied\n"),
        "bob: docker run hello-world failed: denied",
    ),
    (
        "rootless_container:bob",
        ok("hi\n"),
        "bob: docker run hello-world did not print 'Hello from Docker!'",
    ),
]


@pytest.mark.parametrize(("section", "printed", "said"), ROOTLESS_DRIFTS)
def test_each_rootless_drift_fails_saying_what_is_wrong(section, printed, said):
    failed = failing_check({**converged(ROOTLESS), section: printed}, ROOTLESS)
    assert check_of(failed) == "test_rootless_users"
    assert said in str(failed.value)


def test_a_user_outside_the_docker_group_fails():
    failed = failing_check({**converged(USERS), "groups:alice": ok("alice\n")}, USERS)
    assert check_of(failed) == "test_docker_group_and_users"
    assert "alice is not in the docker group" in str(failed.value)


def test_without_rootless_users_the_rootless_check_is_skipped():
    with pytest.raises(pytest.skip.Exception):
        checks.test_rootless_users(converged(), PLAIN)
