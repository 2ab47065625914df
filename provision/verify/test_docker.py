"""The Docker host checks, run by testinfra against each host.

Run with ``provision verify -i INVENTORY`` or directly:
``pytest --hosts=ssh://HOST --ssh-config=FILE --pyargs provision.verify``.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from provision.docker import keyring
from provision.docker.distro import detect, parse_os_release
from provision.docker.dpkg import parse_query, query_command, version_matches
from provision.docker.layout import DAEMON_JSON, KEYRING, SOURCES, sources_text
from provision.verify.settings import settings_for

DOCKER_PORTS = (2375, 2376)


@pytest.fixture(scope="module")
def settings(host):
    return settings_for(host.backend.get_hostname())


@pytest.fixture(scope="module")
def root(host):
    """The same host, commands run through sudo."""
    with host.sudo():
        yield host


@pytest.fixture(scope="module")
def packages(host, settings):
    """dpkg's view of Docker's and the conflicting packages, in one command."""
    names = [*settings.docker_packages, *settings.docker_obsolete_packages]
    return parse_query(host.check_output(query_command(names)).splitlines())


def installed(packages, name) -> bool:
    return name in packages and packages[name].installed


def test_packages_installed(packages, settings):
    missing = [name for name in settings.docker_packages if not installed(packages, name)]
    assert not missing, f"not installed: {', '.join(missing)}"


def test_pinned_versions(packages, settings):
    wrong = {
        name: packages[name].version if name in packages else None
        for name, wanted in settings.pins().items()
        if name not in packages or not version_matches(packages[name].version, wanted)
    }
    assert not wrong, f"docker_version is {settings.docker_version}, installed {wrong}"


def test_holds(packages, settings):
    held = {name for name in settings.docker_packages if name in packages and packages[name].held}
    assert held == set(settings.holds()), f"held: {sorted(held) or 'none'}"


def test_no_conflicting_packages(packages, settings):
    present = [name for name in settings.docker_obsolete_packages if installed(packages, name)]
    assert not present, f"conflicting packages installed: {', '.join(present)}"


def test_signing_key(root, settings):
    key = root.file(KEYRING)
    assert key.exists, f"{KEYRING} is missing"
    assert (key.user, key.group, key.mode) == ("root", "root", 0o644)
    assert root.file("/etc/apt/keyrings").mode == 0o755
    assert settings.docker_gpg_fingerprint in keyring.fingerprints(key.content)


def test_sources_file(host, settings):
    os_release = parse_os_release(host.file("/etc/os-release").content_string)
    arch = settings.docker_arch or host.check_output("dpkg --print-architecture")
    target = detect(
        host.backend.get_hostname(),
        os_release,
        arch,
        settings.docker_distro,
        settings.docker_codename,
    )
    sources = host.file(SOURCES)
    assert sources.exists, f"{SOURCES} is missing"
    assert sources.mode == 0o644
    expected = sources_text(settings, target.distro, target.codename, target.arch)
    assert sources.content_string == expected


@pytest.mark.parametrize("unit", ["containerd", "docker"])
def test_service(host, settings, unit):
    service = host.service(unit)
    assert service.is_running == (settings.docker_service_state == "started")
    assert service.is_enabled == settings.docker_service_enabled


def test_docker_group_and_users(host, settings):
    assert host.group("docker").exists
    for user in settings.docker_users:
        assert "docker" in host.user(user).groups, f"{user} is not in the docker group"


def test_socket_permissions(root):
    socket = root.file("/var/run/docker.sock")
    assert socket.is_socket
    assert (socket.user, socket.group, socket.mode) == ("root", "docker", 0o660)


def test_daemon_reachable(root):
    version = root.check_output("docker version --format '{{.Server.Version}}'")
    assert re.match(r"^\d+\.\d+", version), version


@pytest.mark.parametrize("plugin", ["compose", "buildx"])
def test_cli_plugin(root, plugin):
    result = root.run(f"docker {plugin} version")
    assert result.rc == 0, result.stderr
    assert re.search(r"v?\d+\.\d+", result.stdout)


def test_daemon_json(root, settings):
    options = dict(settings.docker_daemon_options)
    present = root.file(DAEMON_JSON).exists
    if options:
        assert present, f"{DAEMON_JSON} is missing"
        assert json.loads(root.file(DAEMON_JSON).content_string) == options
    elif present:
        json.loads(root.file(DAEMON_JSON).content_string)  # an unmanaged file must still parse


def test_no_plain_tcp_listener(root, settings):
    configured = " ".join(map(str, settings.docker_daemon_options.get("hosts", [])))
    listening = root.check_output("ss -Hltn")
    for port in DOCKER_PORTS:
        if f":{port}" not in configured:
            assert not re.search(rf":{port}\s", listening), f"dockerd listens on TCP {port}"


def test_container_runs(root, settings):
    image = shlex.quote(settings.docker_verify_image)
    url = settings.docker_verify_image_url
    if url and root.run(f"docker image inspect {image}").rc != 0:
        root.check_output(f"curl -fsSL {shlex.quote(url)} | docker load")
    result = root.run(f"docker run --rm {image}")
    assert result.rc == 0, result.stderr
    assert "Hello from" in result.stdout
