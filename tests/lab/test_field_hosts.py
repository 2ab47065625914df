"""Hosts the field has now, as extra lab hosts made only here: Debian testing (forky), which
Docker's repository does not carry, and a Debian 13 host whose ``sudo`` is sudo-rs."""

from __future__ import annotations

import json

import pytest

from .conftest import INVENTORY, apply, check, provision, sh

FORKY, SUDO_RS = "forky", "sudors"
# what an apply writes before it installs anything
WRITTEN = ("/etc/apt/keyrings/docker.asc", "/etc/apt/sources.list.d/docker.sources")
INSTALLED = "dpkg-query -W -f='${db:Status-Abbrev}' docker-ce 2>/dev/null | grep -q '^ii'"
SUDO_RS_BINARY = "/usr/lib/cargo/bin/sudo"


@pytest.fixture(scope="module")
def extras(lab):
    """The forky and sudo-rs hosts, fresh; removed again so later runs see the default lab."""
    running = {row.name for row in lab.status() if row.state == "running"}
    lab.up(2, ["bookworm", "trixie"], extras=[FORKY, SUDO_RS])
    for name in running & {FORKY, SUDO_RS}:  # the others are fresh from their bases
        lab.reset(name)
    yield lab
    for name in (FORKY, SUDO_RS):
        lab.remove(name)


def test_forky_is_refused_before_any_change_then_converges_as_trixie(extras):
    release = sh(extras, FORKY, ". /etc/os-release && echo $ID $VERSION_CODENAME").stdout
    assert release.split() == ["debian", "forky"]
    before = sh(extras, FORKY, "stat -c %Y /var/lib/dpkg/status").stdout

    refused = apply(FORKY)
    error = refused.hosts[FORKY].error or ""
    assert not refused.ok
    repository = f"{extras.state['repo']['url']}/debian"
    assert error.startswith(f"{FORKY}: Docker's repository {repository} has no suite forky for ")
    assert "amd64: apt finds no Release file" in error and ". " not in error, error
    assert "set docker_codename to a suite it has, such as trixie" in error
    assert error.endswith("; nothing was changed.")
    for path in WRITTEN:
        assert sh(extras, FORKY, f"test -e {path}", check=False).returncode == 1, path
    assert sh(extras, FORKY, "stat -c %Y /var/lib/dpkg/status").stdout == before

    converged = apply(FORKY, docker_codename="trixie")
    assert converged.ok, converged.hosts[FORKY].error
    sources = sh(extras, FORKY, f"cat {WRITTEN[1]}").stdout
    assert "Suites: trixie" in sources
    verified = check(FORKY, docker_codename="trixie")
    assert verified.ok, [c.message for c in verified.hosts[FORKY].checks if not c.passed]
    again = apply(FORKY, docker_codename="trixie")
    assert again.ok and again.hosts[FORKY].status == "unchanged"


def test_sudo_rs_host_is_applied_verified_and_uninstalled_through_sudo_rs(extras, tmp_path):
    sudo = sh(extras, SUDO_RS, "command -v sudo; sudo --version 2>&1; id -un").stdout.splitlines()
    assert sudo[0] == "/usr/bin/sudo" and sudo[1].startswith("sudo-rs "), sudo
    assert sudo[-1] == extras.config.user != "root"
    assert sh(extras, SUDO_RS, "readlink -f /usr/bin/sudo").stdout.strip() == SUDO_RS_BINARY
    limit = ("-i", INVENTORY, "--limit", SUDO_RS)

    applied = provision("apply", *limit, "--json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert json.loads(applied.stdout)["hosts"][SUDO_RS]["status"] == "changed"
    verified = provision("verify", *limit, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["hosts"][SUDO_RS]["failed"] == 0
    status = provision("status", *limit, "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Debian GNU/Linux 13" in status.stdout
    executed = provision("exec", *limit, "--sudo", "--json", "--", "id -u; docker ps -q | wc -l")
    assert executed.returncode == 0, executed.stdout + executed.stderr
    assert json.loads(executed.stdout)["hosts"][SUDO_RS]["stdout"] == "0\n0\n"
    rerun = provision("apply", *limit, "--json")
    assert json.loads(rerun.stdout)["hosts"][SUDO_RS]["status"] == "unchanged", rerun.stderr

    removed = provision("uninstall", *limit, "--yes", "--json")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert json.loads(removed.stdout)["hosts"][SUDO_RS]["status"] == "changed"
    assert sh(extras, SUDO_RS, INSTALLED, check=False).returncode == 1
    for path in WRITTEN:
        assert sh(extras, SUDO_RS, f"test -e {path}", check=False).returncode == 1, path
    # what the sudo-rs binary itself logged: every command above went through it
    ran = sh(extras, SUDO_RS, f"sudo journalctl -q --no-pager -o cat _EXE={SUDO_RS_BINARY}")
    commands = [line.partition("COMMAND=")[2] for line in ran.stdout.splitlines()]
    assert any("apt-get" in command and "docker-ce" in command for command in commands)
    assert "/usr/bin/sh -c id -u; docker ps -q | wc -l" in commands


def test_a_sudo_rs_that_asks_for_a_password_fails_in_one_sentence(extras):
    """sudo-rs says "interactive authentication is required" where sudo says "a password is
    required"; each command says so in its one sentence, and nothing is written (the host is
    as the uninstall above left it)."""
    rule = f"{extras.config.user} ALL=(ALL:ALL) ALL"  # no NOPASSWD: sudo asks
    sh(extras, SUDO_RS, f"echo '{rule}' | sudo tee /etc/sudoers.d/{extras.config.user}")
    said = "(sudo-rs: interactive authentication is required)"
    limit = ("-i", INVENTORY, "--limit", SUDO_RS)

    applied = provision("apply", *limit, "--json")
    assert applied.returncode == 1
    assert json.loads(applied.stdout)["hosts"][SUDO_RS]["error"] == (
        f"{SUDO_RS}: could not take the host lock /run/provision.lock {said}; the deploy user "
        "needs passwordless sudo and flock (util-linux)."
    )
    verified = provision("verify", *limit, "--json")
    assert verified.returncode == 1
    assert f"{SUDO_RS}: the checks could not read the host {said}" in verified.stdout
    executed = provision("exec", *limit, "--sudo", "--json", "--", "true")
    assert executed.returncode == 1
    assert "interactive authentication is required" in executed.stdout
    assert sh(extras, SUDO_RS, INSTALLED, check=False).returncode == 1  # as uninstall left it
    for path in WRITTEN:
        assert sh(extras, SUDO_RS, f"test -e {path}", check=False).returncode == 1, path
