"""The lab itself: hosts booted with systemd, reachable over SSH, on the network."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import SUITES, sh


@pytest.mark.parametrize("host", sorted(SUITES))
def test_ssh_with_strict_host_key_checking(lab, host):
    config = lab.config.ssh_config.read_text()
    assert "StrictHostKeyChecking yes" in config
    result = sh(lab, host, "id -un; sudo -n id -un; grep VERSION_CODENAME /etc/os-release")
    assert result.stdout.split() == [lab.config.user, "root", f"VERSION_CODENAME={SUITES[host]}"]


def test_unknown_host_key_is_refused(lab, tmp_path):
    """With an empty known_hosts, ssh refuses to connect: host keys are really checked."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = subprocess.run(
        [
            "ssh",
            "-F",
            str(lab.config.ssh_config),
            "-o",
            f"UserKnownHostsFile={empty}",
            "-o",
            "BatchMode=yes",
            "lab1",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "host key" in result.stderr.lower()


def test_root_login_is_off(lab):
    result = sh(lab, "lab1", "sudo sshd -T | grep -i '^permitrootlogin'")
    assert result.stdout.split() == ["permitrootlogin", "no"]


@pytest.mark.parametrize("host", sorted(SUITES))
def test_systemd_is_running(lab, host):
    assert sh(lab, host, "systemctl is-system-running", check=False).stdout.strip() == "running"


@pytest.mark.parametrize("host", sorted(SUITES))
def test_reaches_debian_archive_and_stand_in_repository(lab, host):
    fetch = (
        "python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).status)'"
    )
    suite = SUITES[host]
    archive = sh(lab, host, f"{fetch} http://deb.debian.org/debian/dists/{suite}/InRelease")
    repo = sh(lab, host, f"{fetch} {lab.config.repo_url}/debian/dists/{suite}/InRelease")
    assert archive.stdout.strip() == repo.stdout.strip() == "200"


def test_apt_accepts_stand_in_repository(lab):
    """The stand-in repository's signature checks out with the key it serves."""
    state = lab.state["repo"]
    script = (
        "set -e; d=$(mktemp -d); "
        "python3 -c 'import sys,urllib.request;urllib.request.urlretrieve(*sys.argv[1:])' "
        f"{state['url']}/debian/gpg $d/k.asc; "
        f"echo 'deb [signed-by='$d'/k.asc] {state['url']}/debian bookworm stable' > $d/list; "
        "mkdir -p $d/lists/partial; "
        "sudo apt-get -q -o Dir::Etc::SourceList=$d/list -o Dir::Etc::SourceParts=- "
        "-o Dir::State::Lists=$d/lists -o APT::Get::List-Cleanup=0 update >/dev/null; "
        "apt-cache -o Dir::Etc::SourceList=$d/list -o Dir::Etc::SourceParts=- "
        "-o Dir::State::Lists=$d/lists madison docker-ce"
    )
    result = sh(lab, "lab1", script)
    versions = [line.split("|")[1].strip() for line in result.stdout.splitlines()]
    assert len(versions) >= 2, result.stdout
    assert all("~debian.12~bookworm" in version for version in versions)


def test_extra_hosts_come_with_lab_up_and_go_without_touching_the_others(lab):
    """`provision lab up --extra` starts the extras beside running lab1/lab2, each from its own
    base; removing them leaves no machine, mount or link of theirs and the others running."""
    from provision_lab.system import mounts_under

    from .conftest import provision

    before = {m.name: m.pid for m in lab.machines()}
    up = provision("lab", "up", "--extra", "forky", "--extra", "sudors")
    assert up.returncode == 0, up.stdout + up.stderr
    lab.state = lab._load_state()
    assert {m.name: m.pid for m in lab.machines() if m.name in before} == before
    assert [row.name for row in lab.status()][-2:] == ["forky", "sudors"]
    seen = sh(lab, "forky", "grep VERSION_CODENAME /etc/os-release; sudo -n id -un").stdout
    assert seen.split() == ["VERSION_CODENAME=forky", "root"]
    assert sh(lab, "sudors", "sudo --version 2>&1").stdout.startswith("sudo-rs ")
    extras = [lab.machine(name) for name in ("forky", "sudors")]
    for machine in extras:
        lab.remove(machine.name)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert machine.veth not in links and not machine.dir.exists()
        assert mounts_under(machine.dir) == []
        assert machine.name not in lab.config.ssh_config.read_text()
    assert {m.name: m.pid for m in lab.machines()} == before
    assert all(row.state == "running" for row in lab.status())
