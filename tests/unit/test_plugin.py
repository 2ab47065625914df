"""The pytest plugin: ``--inventory`` and ``--limit`` choose hosts and their settings."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

INVENTORY = """\
web = [("web1", {"ssh_hostname": "192.0.2.1", "ssh_user": "deploy", "ssh_port": 2222,
                 "docker_channel": "test"})]
db = [("db1", {"docker_users": ["alice"]})]
"""

SETTINGS_CHECK = """\
from provision.verify.settings import settings_for


def test_settings_of_each_host():
    assert settings_for("web1").docker_channel == "test"
    assert settings_for("db1").docker_channel == "stable"
    assert settings_for("db1").docker_users == ("alice",)
"""


def pytest_run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
        + list(args),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def inventory(tmp_path) -> str:
    path = tmp_path / "inventory.py"
    path.write_text(INVENTORY)
    return str(path)


def test_inventory_hosts_become_testinfra_hosts(tmp_path):
    done = pytest_run(
        tmp_path,
        "--inventory",
        inventory(tmp_path),
        "--limit",
        "web",
        "--collect-only",
        "-q",
        "--pyargs",
        "provision.verify.test_docker",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert ids and all("[ssh://web1" in line for line in ids)


def test_each_host_is_checked_with_its_own_settings(tmp_path):
    (tmp_path / "test_settings.py").write_text(SETTINGS_CHECK)
    done = pytest_run(tmp_path, "--inventory", inventory(tmp_path), "test_settings.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ssh_config_says_how_to_reach_each_host(tmp_path):
    from provision.orchestrate.inventory import load
    from provision.verify.run import write_session

    config = write_session(load(inventory(tmp_path), ["web"]).hosts, tmp_path).read_text()
    block = config[config.index("Host web1") :]
    for line in ("HostName 192.0.2.1", "User deploy", "Port 2222"):
        assert f"  {line}\n" in block


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")
def test_key_exchange_is_opensshs_unless_a_host_opts_in_and_a_users_choice_wins(tmp_path):
    from provision.orchestrate.inventory import load
    from provision.verify.run import _offers, write_session

    def kex(hosts, config=None) -> list[str]:
        config = config or write_session(hosts, tmp_path)
        done = subprocess.run(
            ["ssh", "-G", "-F", str(config), hosts[0].name], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        line = next(line for line in done.stdout.splitlines() if line.startswith("kexalgorithms "))
        return line.split(" ", 1)[1].split(",")

    default = kex(load(inventory(tmp_path), ["web"]).hosts, "/dev/null")
    assert kex(load(inventory(tmp_path), ["web"]).hosts) == default
    fast = load(inventory(tmp_path), ["web"], {"ssh_prefer_curve25519": True}).hosts
    if _offers("sntrup761x25519-sha512"):
        assert kex(fast)[:2] == ["curve25519-sha256", "curve25519-sha256@libssh.org"]
        assert sorted(kex(fast)) == sorted(default)  # OpenSSH's other defaults follow
    own = tmp_path / "own_config"
    own.write_text("KexAlgorithms sntrup761x25519-sha512@openssh.com\n")
    (tmp_path / "own.py").write_text(
        f"hosts = [('web1', {{'ssh_config_file': {str(own)!r}, 'ssh_prefer_curve25519': True}})]\n"
    )
    assert kex(load(str(tmp_path / "own.py"), []).hosts) == ["sntrup761x25519-sha512@openssh.com"]


def test_a_client_without_the_slow_key_exchange_gets_no_preference(tmp_path, monkeypatch):
    from provision.orchestrate.inventory import load
    from provision.verify import run as runner

    monkeypatch.setattr(runner, "_offers", lambda kex: False)
    hosts = load(inventory(tmp_path), ["web"], {"ssh_prefer_curve25519": True}).hosts
    config = runner.write_session(hosts, tmp_path)
    assert "KexAlgorithms" not in config.read_text()


def test_usage_errors(tmp_path):
    missing = pytest_run(tmp_path, "--inventory", "/nonexistent.py")
    assert missing.returncode == 4
    assert "inventory /nonexistent.py does not exist" in missing.stderr
    both = pytest_run(tmp_path, "--inventory", inventory(tmp_path), "--hosts", "ssh://x")
    assert both.returncode == 4 and "drop --hosts and --ssh-config" in both.stderr
    alone = pytest_run(tmp_path, "--limit", "web")
    assert alone.returncode == 4 and "--limit needs --inventory FILE." in alone.stderr
