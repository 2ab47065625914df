"""The Docker host checks, run by testinfra against each host.

Run with ``provision verify -i INVENTORY`` or directly:
``pytest --inventory INVENTORY --pyargs provision.verify.test_docker`` (each host with its own
settings), or ``pytest --hosts=ssh://HOST --pyargs provision.verify.test_docker`` (Docker's
defaults).

Each host is read once, by one ``sudo`` command (``provision.verify.probe``), and all hosts of
the session are read in parallel; the checks then assert on what was read.
"""

from __future__ import annotations

import json
import posixpath
import re

import pytest

from provision.docker import daemon, hardening, keyring, systemd
from provision.docker.distro import detect, parse_os_release
from provision.docker.dpkg import parse_query, version_matches
from provision.docker.layout import (
    APT_PROXY,
    APT_PROXY_LOGIN,
    AUDIT_RULES,
    DAEMON_JSON,
    KEYRING,
    SOURCES,
    sources_text,
)
from provision.verify import probe
from provision.verify.settings import parallel, settings_for

DOCKER_PORTS = (2375, 2376)


@pytest.fixture(scope="session")
def probes(request):
    """Every host of the session probed at once, on first use."""
    hosts = probe.session_hosts(request.session)
    return probe.probe_all(hosts, lambda name: probe.commands(settings_for(name)), parallel())


@pytest.fixture(scope="module")
def settings(host):
    return settings_for(host.backend.get_hostname())


@pytest.fixture(scope="module")
def seen(host, probes, settings):
    """This host's probe sections."""
    name = host.backend.get_hostname()
    sections = probes.get(name) or probe.probe(host, settings)
    if isinstance(sections, probe.ProbeError):
        raise sections
    return sections


@pytest.fixture(scope="module")
def files(seen):
    """The files the deploy writes, as the host has them."""
    return probe.files(seen["files"])


def written(files, path: str, mode: str = "644"):
    """``path`` as the deploy writes it: a regular file, root's, with ``mode``."""
    found = files.get(path)
    assert found is not None, f"{path} is missing"
    assert found.kind == "file", f"{path} is a {found.kind}, not a regular file"
    assert found.owner == f"root root {mode}", f"{path} owner, mode: {found.owner}"
    return found


@pytest.fixture(scope="module")
def packages(seen):
    return parse_query(seen["packages"].text.splitlines())


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


def test_signing_key(files, settings):
    key = written(files, KEYRING)
    directory = files.get(posixpath.dirname(KEYRING))
    assert directory and directory.owner == "root root 755", "/etc/apt/keyrings owner, mode"
    wanted = settings.docker_gpg_fingerprint
    try:
        keyring.trusted_only(key.content, wanted)
    except keyring.NotAKeyError as problem:
        pytest.fail(f"{KEYRING} holds {problem}; apt must trust key {wanted} alone")


def test_sources_file(host, seen, files, settings):
    os_release = parse_os_release(seen["os_release"].text)
    arch = settings.docker_arch or seen["arch"].text.strip()
    target = detect(
        host.backend.get_hostname(),
        os_release,
        arch,
        settings.docker_distro,
        settings.docker_codename,
    )
    sources = written(files, SOURCES)
    expected = sources_text(settings, target.distro, target.codename, target.arch)
    assert sources.content.decode(errors="replace") == expected


@pytest.mark.parametrize("unit", probe.UNITS)
def test_service(seen, settings, unit):
    states = systemd.by_name(systemd.parse_show(seen["units"].text.splitlines()), [unit])
    active, unit_file = states[unit]
    running, enabled = active == "active", unit_file == "enabled"
    state = settings.docker_service_state
    assert running == (state == "started"), f"{unit} is {'' if running else 'not '}running"
    assert enabled == settings.docker_service_enabled, (
        f"{unit} is {'' if enabled else 'not '}enabled"
    )


def test_docker_group_and_users(seen, settings):
    assert seen["group"].ok, "the docker group is missing"
    for user in settings.docker_users:
        groups = seen[f"groups:{user}"]
        assert groups.ok and "docker" in groups.text.split(), f"{user} is not in the docker group"


def test_socket_permissions(seen):
    stat = seen["socket_stat"]
    assert stat.ok, f"{probe.SOCKET} is missing"
    assert stat.text.split() == ["socket", "root", "docker", "660"], f"{probe.SOCKET}: {stat.text}"


def test_daemon_reachable(seen):
    info = probe.docker_info(seen["docker_info"])
    version = str(info.get("ServerVersion") or "")
    problem = info.get("ServerErrors") or seen["docker_info"].text.strip()[-300:]
    assert re.match(r"^\d+\.\d+", version), f"the daemon does not answer: {problem}"


@pytest.mark.parametrize("plugin", probe.PLUGINS)
def test_cli_plugin(seen, plugin):
    """The docker CLI finds the plugin and runs it (``docker info`` asks each for its version)."""
    info = probe.docker_info(seen["docker_info"])
    found = {p.get("Name"): p for p in (info.get("ClientInfo") or {}).get("Plugins") or []}
    assert plugin in found, f"docker {plugin} is missing (plugins: {sorted(found) or 'none'})"
    assert not found[plugin].get("Err"), found[plugin]["Err"]
    assert re.search(r"\d+\.\d+", found[plugin].get("Version", "")), found[plugin]


def engine(packages) -> str | None:
    return packages["docker-ce"].version if "docker-ce" in packages else None


def test_running_engine_is_the_installed_one(seen, packages):
    """After an upgrade or a downgrade, the daemon that answers is the installed docker-ce."""
    running = str(probe.docker_info(seen["docker_info"]).get("ServerVersion") or "")
    installed = engine(packages)
    assert installed and running, "docker-ce is not installed, or its daemon does not answer"
    # a build's own suffix (Debian's 26.1.5+dfsg1) names the same release
    assert version_matches(installed, running.partition("+")[0]), (
        f"the running daemon is {running}, the installed docker-ce {installed}: restart docker"
    )


def test_daemon_json(files, packages, settings):
    """The settings' keys as they say; other keys only as kept from a daemon.json taken over
    (``docker_daemon_json_keep_unmanaged``)."""
    expected = daemon.daemon_config(settings, engine(packages))
    found = json.loads(
        written(files, DAEMON_JSON, daemon.mode(settings, expected).lstrip("0")).content
    )
    if settings.docker_daemon_json_keep_unmanaged:
        found = {key: value for key, value in found.items() if key in expected}
    assert found == expected


def test_daemon_runs_with_its_configuration(seen, packages, settings):
    """What the running daemon reports, not only what the file says."""
    expected = daemon.daemon_config(settings, engine(packages))
    info = probe.docker_info(seen["docker_info"])
    assert info.get("LoggingDriver") == expected["log-driver"], "log driver"
    if "data-root" in expected:
        assert info.get("DockerRootDir") == expected["data-root"], "data root"
    live_restore = bool(info.get("LiveRestoreEnabled"))
    assert live_restore == bool(expected.get("live-restore")), "live restore"
    registry = info.get("RegistryConfig") or {}
    mirrors = [str(m).rstrip("/") for m in registry.get("Mirrors") or []]
    assert mirrors == [m.rstrip("/") for m in expected.get("registry-mirrors", [])], "mirrors"
    insecure = set(registry.get("InsecureRegistryCIDRs") or [])
    insecure |= {n for n, c in (registry.get("IndexConfigs") or {}).items() if not c["Secure"]}
    missing = set(expected.get("insecure-registries", [])) - insecure
    assert not missing, f"not insecure registries: {sorted(missing)}"
    for key, field in (("http", "HttpProxy"), ("https", "HttpsProxy"), ("no_proxy", "NoProxy")):
        wanted = settings.proxy().get(key, "")
        assert _no_userinfo(info.get(field) or "") == _no_userinfo(wanted), f"{field} of docker"


def _no_userinfo(url: str) -> str:
    """A proxy URL without its user and password (``docker info`` masks them)."""
    return re.sub(r"//[^/@]*@", "//", url)


def test_proxy_dropin(files, packages, settings):
    expected = daemon.proxy_dropin(settings, engine(packages))
    if expected is None:
        assert daemon.PROXY_DROPIN not in files, f"{daemon.PROXY_DROPIN} is left over"
    else:
        dropin = files.get(daemon.PROXY_DROPIN)
        found = dropin.content.decode(errors="replace") if dropin else None
        assert found == expected, f"{daemon.PROXY_DROPIN} differs"


def test_audit_rules(files, settings):
    """docker_audit_rules' rules file, root's, mode 640; none without it."""
    expected = hardening.audit_rules(settings)
    rules = files.get(AUDIT_RULES)
    if expected is None:
        assert rules is None, f"{AUDIT_RULES} is left over"
    else:
        assert rules is not None, f"{AUDIT_RULES} is missing"
        assert rules.owner == "root root 640", f"{AUDIT_RULES} owner, mode: {rules.owner}"
        assert rules.content.decode(errors="replace") == expected, "audit rules differ"


def test_apt_proxy(files, settings):
    expected = daemon.apt_proxy_conf(settings)
    conf = files.get(APT_PROXY)
    found = conf.content.decode(errors="replace") if conf else None
    assert found == expected, f"{APT_PROXY} is {'missing' if found is None else 'different'}"
    login = daemon.apt_proxy_login(settings)
    if login is None:
        assert APT_PROXY_LOGIN not in files, f"{APT_PROXY_LOGIN} is left over"
    else:  # compared apart, so that no failure shows the password
        same = written(files, APT_PROXY_LOGIN, "600").content == login.encode()
        assert same, f"{APT_PROXY_LOGIN} does not hold apt_proxy's login"


def test_new_containers_get_the_log_options(seen, packages, settings):
    expected = daemon.daemon_config(settings, engine(packages))
    result = seen["log_config"]
    problem = (result.text if result.ok else seen["container"].text).strip()[-300:]
    assert result.ok and result.text.startswith("{"), f"no verification container: {problem}"
    config = json.loads(result.text.strip().splitlines()[-1])
    assert config["Type"] == expected["log-driver"]
    assert (config.get("Config") or {}) == expected.get("log-opts", {})


def test_no_world_writable_paths(seen):
    """Nothing in the directories the deploy writes to can be changed by any user."""
    found = [line for line in seen["world_writable"].text.splitlines() if line.startswith("/")]
    assert not found, f"world-writable: {', '.join(found)}"


def test_no_plain_tcp_listener(seen, settings):
    configured = " ".join(map(str, settings.docker_daemon_options.get("hosts", [])))
    assert seen["listening"].ok, seen["listening"].text.strip()
    for port in DOCKER_PORTS:
        if f":{port}" not in configured:
            listening = re.search(rf":{port}\s", seen["listening"].text)
            assert not listening, f"dockerd listens on TCP {port}"


def test_container_runs(seen, settings):
    result = seen["container"]
    image = settings.docker_verify_image
    assert result.ok, f"docker run {image} failed: {result.text.strip()[-300:]}"
    expected = settings.verify_output()
    if expected is not None:
        printed = result.text.strip()[-300:] or "nothing"
        assert expected in result.text, f"docker run {image} printed {printed!r}, not {expected!r}"


def test_rootless_users(seen, settings):
    """Each rootless user runs a container on their own daemon: no sudo, no docker group."""
    if not settings.docker_rootless_users:
        pytest.skip("no docker_rootless_users")
    image, expected = settings.docker_verify_image, settings.verify_output()
    for user in settings.docker_rootless_users:
        groups = seen[f"rootless_groups:{user}"]
        assert groups.ok, f"{user}: {groups.text.strip()}"
        assert "docker" not in groups.text.split(), f"{user} is in the docker group"
        info = seen[f"rootless_info:{user}"]
        assert info.ok and "name=rootless" in info.text, (
            f"{user}'s rootless daemon does not answer: {info.text.strip()[-300:]}"
        )
        result = seen[f"rootless_container:{user}"]
        assert result.ok, f"{user}: docker run {image} failed: {result.text.strip()[-300:]}"
        if expected is not None:
            assert expected in result.text, f"{user}: docker run {image} did not print {expected!r}"
