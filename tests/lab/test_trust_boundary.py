"""The trust boundary on lab hosts: crafted key downloads, shell syntax in settings and
control characters in connection data. Each is refused in one sentence with nothing written,
or only the pinned key is written."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from provision.docker import keyring
from provision.docker.deploy import KEYRING, SOURCES

from .conftest import INVENTORY, apply, check, failures, provision, sh


@pytest.fixture(scope="module")
def attacker_key() -> bytes:
    """A real OpenPGP key made with gpg: what an attacker would slip in beside the pinned one."""
    home = tempfile.mkdtemp(prefix="gpg", dir="/tmp")
    os.chmod(home, 0o700)
    env = dict(os.environ, GNUPGHOME=home)
    gpg = ["gpg", "--batch", "--no-tty", "--passphrase", ""]
    try:
        subprocess.run(
            [*gpg, "--quick-gen-key", "Attacker <a@example.org>", "ed25519", "sign", "never"],
            env=env,
            check=True,
            capture_output=True,
        )
        return subprocess.run(
            [*gpg, "--armor", "--export"], env=env, check=True, capture_output=True
        ).stdout
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def served(lab):
    """``serve(name, data)``: the URL the lab's web server gives ``data`` at."""
    directory = lab.config.www_dir / "attack"
    directory.mkdir(exist_ok=True)

    def serve(name: str, data: bytes) -> str:
        (directory / name).write_bytes(data)
        return f"http://{lab.config.gateway}:{lab.config.repo_port}/attack/{name}"

    yield serve
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def pinned(lab) -> bytes:
    """The lab repository's signing key as it serves it."""
    return (lab.config.www_dir / "linux" / "debian" / "gpg").read_bytes()


@pytest.fixture(scope="module")
def fresh_lab1(lab):
    lab.reset("lab1")
    return lab


def nothing_written(lab) -> bool:
    listing = sh(lab, "lab1", f"ls -A /etc/apt/keyrings; ls {SOURCES}", check=False)
    return listing.stdout.strip() == "" and listing.returncode != 0


def lines(armored: bytes) -> list[bytes]:
    return armored.strip().split(b"\n")


CRAFTED = {
    "two-blocks": lambda key, other: key + other,
    "checksum-line-inside": lambda key, other: b"\n".join(
        [*lines(key)[:-1], *lines(other)[2:-1], lines(key)[-1]]
    ),
    "trailing-garbage": lambda key, other: key + b"<html>cached page</html>\n",
}
FOUND = {
    "two-blocks": "a second armor block after the key's armor",
    "checksum-line-inside": "armor with data after its checksum line",
    "trailing-garbage": "data after the key's armor",
}


@pytest.mark.parametrize("attack", list(CRAFTED))
def test_a_crafted_key_download_is_refused_with_nothing_written(
    fresh_lab1, served, pinned, attacker_key, attack
):
    url = served(f"{attack}.asc", CRAFTED[attack](pinned, attacker_key))
    result = apply("lab1", docker_gpg_key_url=url)
    host = result.hosts["lab1"]
    assert host.status == "failed"
    assert host.error.startswith(f"lab1: {url} returned {FOUND[attack]}, not exactly one ")
    assert "\n" not in host.error and "nothing was written" in host.error
    assert nothing_written(fresh_lab1)


def test_a_binary_key_is_written_armored_and_trusted_alone(fresh_lab1, served, pinned):
    lab = fresh_lab1
    url = served("binary.gpg", keyring.dearmor(pinned))
    result = apply("lab1", docker_gpg_key_url=url)
    assert result.ok, result.hosts["lab1"].error
    written = sh(lab, "lab1", f"cat {KEYRING}").stdout.encode()
    fingerprint = lab.state["repo"]["fingerprint"]
    assert written == keyring.checked_key(pinned, fingerprint).armored()
    assert keyring.primary_fingerprints(written) == [fingerprint]
    assert failures(check("lab1", docker_gpg_key_url=url), "lab1") == []


def test_an_extra_key_in_the_installed_keyring_is_caught_and_repaired(
    fresh_lab1, pinned, attacker_key
):
    lab = fresh_lab1
    forged = CRAFTED["checksum-line-inside"](pinned, attacker_key).decode()
    sh(lab, "lab1", f"printf '%s\\n' '{forged}' | sudo tee {KEYRING} >/dev/null")
    problems = failures(check("lab1"), "lab1")
    assert len(problems) == 1 and problems[0].startswith("test_signing_key: ")
    assert f"{KEYRING} holds keys {lab.state['repo']['fingerprint']}, " in problems[0]
    result = apply("lab1")
    assert result.ok and "Install Docker's signing key" in result.hosts["lab1"].changed
    assert sh(lab, "lab1", f"cat {KEYRING}").stdout.encode() == pinned
    assert failures(check("lab1"), "lab1") == []
    assert apply("lab1").hosts["lab1"].status == "unchanged"


def test_shell_syntax_in_a_repository_url_is_refused_before_any_host_is_touched(fresh_lab1):
    lab = fresh_lab1
    hostile = f"{lab.state['repo']['url']}'`touch /tmp/pwned`'"
    line = f"deb {hostile}/debian bookworm stable"
    sh(
        lab,
        "lab1",
        f"printf '%s\\n' {shlex.quote(line)} | sudo tee -a /etc/apt/sources.list >/dev/null",
    )
    before = sh(lab, "lab1", "sudo sha256sum /etc/apt/sources.list").stdout
    try:
        result = provision(
            "apply", "-i", INVENTORY, "--limit", "lab1", "--data", f"docker_repo_url={hostile}"
        )
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "lab1: docker_repo_url must be an http(s):// or file:// URL without quotes" in (
            result.stderr
        )
        assert sh(lab, "lab1", "sudo sha256sum /etc/apt/sources.list").stdout == before
        assert sh(lab, "lab1", "ls /tmp/pwned", check=False).returncode != 0
    finally:
        sh(lab, "lab1", "sudo sed -i '/pwned/d' /etc/apt/sources.list")


@pytest.mark.parametrize("command", ["apply", "verify", "status"])
def test_a_newline_in_ssh_hostname_is_refused_and_nothing_runs(lab, tmp_path, command):
    canary = Path(tempfile.gettempdir()) / f"provision-pwned-{os.getpid()}"
    address = lab.state["hosts"]["lab1"]["address"]
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        "from provision_lab.inventory import lab_groups\n"
        "_name, _data = lab_groups()['lab'][0]\n"
        f"hosts = [(_name, dict(_data, ssh_hostname={address + chr(10)!r} "
        f"'  ProxyCommand touch {canary}'))]\n"
    )
    result = provision(command, "-i", str(inventory))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "host lab1: ssh_hostname holds a control character" in result.stderr
    assert not canary.exists()


# a value that would add a field, close a string or start a directive in a file the deploy
# writes, given as a user would (``--data``; JSON for mappings, so its escapes are real)
FILE_INJECTIONS = [
    ("docker_codename", "bookworm\nTrusted: yes", "docker_codename"),
    ("docker_arch", "amd64\n\nTypes: deb", "docker_arch"),
    ("docker_repo_url", "http://10.0.0.1/linux\nTrusted: yes", "docker_repo_url"),
    ("apt_proxy", 'http://proxy:3128/";Acquire::AllowInsecureRepositories "1', "apt_proxy"),
    (
        "docker_proxy",
        json.dumps({"https": "http://proxy:3128/\\\nExecStartPre=/bin/touch /tmp/pwned"}),
        "docker_proxy['https']",
    ),
    ("docker_proxy", json.dumps({"no_proxy": 'a"\nExecStartPre=/bin/touch'}), "no_proxy"),
    ("docker_repo_url", "http://u:p%00w@10.0.0.1/linux", "docker_repo_url carries a login"),
    ("ci_runner_prune_schedule", "hourly\nExecStartPre=/bin/touch /tmp/pwned", "schedule"),
]
WATCHED = "/etc/apt /etc/docker /etc/systemd/system"


@pytest.mark.parametrize(("name", "value", "named"), FILE_INJECTIONS)
def test_a_value_that_would_inject_into_a_rendered_file_is_refused_with_nothing_written(
    lab, name, value, named
):
    """Each refused at validation in one line naming the host and the setting, exit 2, before
    lab1 is touched: nothing under /etc/apt, /etc/docker or the unit directory changes."""
    digest = f"sudo find {WATCHED} -type f -exec sha256sum {{}} + 2>/dev/null | sort"
    before = sh(lab, "lab1", digest).stdout
    profile = ["--profile", "ci-runner"] if name.startswith("ci_runner_") else []
    result = provision(
        "apply", "-i", INVENTORY, "--limit", "lab1", *profile, "--data", f"{name}={value}"
    )
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: invalid settings: lab1: ") and named in result.stderr
    assert sh(lab, "lab1", digest).stdout == before
    assert sh(lab, "lab1", "ls /tmp/pwned", check=False).returncode != 0
