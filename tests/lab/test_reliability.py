"""Faults and hostile host states: clear errors, nothing half-written, reruns converge."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time

import pytest

from provision.docker import keyring
from provision.docker.deploy import KEYRING, SOURCES, install_docker
from provision.orchestrate.run import run_deploy

from .conftest import INVENTORY, apply, check, failures, fleet, provision, sh


def nothing_written(lab, host: str) -> bool:
    return sh(lab, host, f"ls {KEYRING} {SOURCES}", check=False).returncode != 0


def apt_works(lab, host: str) -> bool:
    result = sh(lab, host, "sudo apt-get -q update 2>&1", check=False)
    return result.returncode == 0 and "Conflicting" not in result.stdout


def hold_dpkg_lock(lab, host: str, seconds: int) -> None:
    """Hold the dpkg frontend lock as unattended-upgrades does on a first boot."""
    sh(
        lab,
        host,
        (
            "sudo setsid nohup python3 -c 'import fcntl,time;"
            'f=open("/var/lib/dpkg/lock-frontend","w");fcntl.lockf(f,fcntl.LOCK_EX);'
            f"time.sleep({seconds})' >/dev/null 2>&1 & sleep 0.5"
        ),
    )


@pytest.fixture(scope="module")
def fresh_lab1(lab):
    lab.reset("lab1")
    return lab


class TestAptLock:
    def test_past_the_bound_names_the_holder(self, lab):
        lab.reset("lab2")
        hold_dpkg_lock(lab, "lab2", 120)
        result = apply("lab2", docker_apt_lock_timeout=3)
        error = result.hosts["lab2"].error
        assert result.hosts["lab2"].status == "failed"
        assert "could not get lock" in error and "python3" in error
        assert "docker_apt_lock_timeout" in error
        sh(lab, "lab2", "sudo pkill -f lock[-]frontend || true")

    def test_waits_for_the_lock_then_converges(self, lab):
        hold_dpkg_lock(lab, "lab2", 8)
        started = time.monotonic()
        result = apply("lab2")
        assert result.ok, result.hosts["lab2"].error
        assert time.monotonic() - started >= 7
        assert failures(check("lab2"), "lab2") == []


class TestRepository:
    def test_unreachable_repository(self, fresh_lab1):
        lab = fresh_lab1
        url = f"http://{lab.config.gateway}:1/linux"
        result = apply("lab1", docker_repo_url=url)
        assert result.hosts["lab1"].status == "failed"
        assert "cannot download the Docker signing key" in result.hosts["lab1"].error
        assert nothing_written(lab, "lab1") and apt_works(lab, "lab1")

    def test_html_instead_of_a_key(self, fresh_lab1):
        lab = fresh_lab1
        page = f"http://{lab.config.gateway}:{lab.config.repo_port}/"
        result = apply("lab1", docker_gpg_key_url=page)
        error = result.hosts["lab1"].error
        assert "an HTML page" in error and "nothing was written" in error
        assert nothing_written(lab, "lab1") and apt_works(lab, "lab1")

    def test_pin_the_repository_lacks_is_refused_before_any_change(self, fresh_lab1):
        lab = fresh_lab1
        state = "dpkg-query -W; ls -l --time-style=+%s /var/lib/apt/lists /etc/apt/sources.list.d"
        before = sh(lab, "lab1", state).stdout
        result = apply("lab1", docker_version="19.3.99")
        error = result.hosts["lab1"].error
        repo = f"{lab.state['repo']['url']}/debian"
        assert error.startswith(
            f"lab1: Docker's repository {repo} bookworm for amd64 lacks docker-ce 19.3.99 (it has "
        )
        assert "5:26.1.5" in error and "5:20.10.24" in error  # the versions there are
        assert result.hosts["lab1"].changed == []
        assert sh(lab, "lab1", state).stdout == before  # no package, list or source changed
        assert nothing_written(lab, "lab1")

    def test_repository_errors_leave_no_sources_or_key(self, fresh_lab1):
        lab = fresh_lab1
        key = f"{lab.state['repo']['url']}/debian/gpg"
        broken = f"http://{lab.config.gateway}:{lab.config.repo_port}/missing"
        result = apply("lab1", docker_repo_url=broken, docker_gpg_key_url=key)
        host = result.hosts["lab1"]
        assert host.status == "failed" and host.changed == []  # the preflight found it first
        assert host.error == (
            f"lab1: Docker's repository {broken}/debian has no suite bookworm for amd64: apt "
            "finds no Release file; set docker_codename to a suite it has, or docker_repo_url to "
            "a repository that has bookworm; nothing was changed."
        )
        assert nothing_written(lab, "lab1") and apt_works(lab, "lab1")


FEDORA = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\n'


def test_unsupported_os_is_refused_before_any_change(lab):
    lab.reset("lab2")
    sh(lab, "lab2", f"sudo rm /etc/os-release && printf '{FEDORA}' | sudo tee /etc/os-release")
    try:
        packages = sh(lab, "lab2", "dpkg-query -W").stdout
        result = apply("lab2")
        error = result.hosts["lab2"].error
        assert result.hosts["lab2"].status == "failed" and result.hosts["lab2"].changed == []
        assert error.startswith("lab2: ") and "is not a supported Docker host" in error
        assert "docker_distro" in error  # what to set if the detection is wrong
        assert sh(lab, "lab2", "dpkg-query -W").stdout == packages
        assert nothing_written(lab, "lab2")
    finally:
        sh(lab, "lab2", "sudo ln -sf ../usr/lib/os-release /etc/os-release")


def apply_until_dpkg_runs(lab, host: str) -> tuple[threading.Thread, dict]:
    """Start an apply of a fresh ``host`` in the background; return once dpkg installs Docker."""
    outcome: dict = {}
    hosts = fleet(host)  # loaded here: a first import of pyinfra's CLI in a thread can fail
    run = lambda: outcome.update(first=run_deploy(hosts, install_docker, "apply"))  # noqa: E731
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        docker_dpkg = "pgrep -f '[a]pt-get .*install .*docker-ce' >/dev/null && pgrep -x dpkg"
        if sh(lab, host, docker_dpkg, check=False).returncode == 0:
            return runner, outcome
        time.sleep(0.2)
    pytest.fail("dpkg never installed Docker's packages")


def assert_rerun_converges(lab, host: str) -> None:
    second = apply(host)
    assert second.ok, second.hosts[host].error
    assert sh(lab, host, "sudo dpkg --audit").stdout.strip() == ""
    assert apt_works(lab, host)
    assert failures(check(host), host) == []


def test_interrupted_install_is_repaired_by_a_rerun(fresh_lab1):
    lab = fresh_lab1
    runner, outcome = apply_until_dpkg_runs(lab, "lab1")
    sh(lab, "lab1", "sudo pkill -9 -x dpkg; sudo pkill -9 -x apt-get; true")
    runner.join(300)
    assert outcome["first"].hosts["lab1"].status == "failed"
    assert_rerun_converges(lab, "lab1")


def test_power_cut_during_the_install_fails_the_host_and_a_rerun_repairs_it(lab):
    lab.reset("lab1")
    runner, outcome = apply_until_dpkg_runs(lab, "lab1")
    lab.power_off("lab1")
    runner.join(150)  # TCP keepalive gives up on a silent host within about 45 s
    assert not runner.is_alive(), "the apply still waits for a host without power"
    first = outcome["first"].hosts["lab1"]
    assert first.status == "failed"
    assert "lab1: the SSH connection was lost during Install Docker packages" in first.error
    lab.boot("lab1")
    assert_rerun_converges(lab, "lab1")


def test_network_cut_during_the_install_fails_the_host_and_a_rerun_converges(lab):
    lab.reset("lab1")
    veth = lab.machine("lab1").veth
    runner, outcome = apply_until_dpkg_runs(lab, "lab1")
    subprocess.run(["ip", "link", "set", veth, "down"], check=True)
    try:
        runner.join(150)
    finally:
        subprocess.run(["ip", "link", "set", veth, "up"], check=True)
    assert not runner.is_alive(), "the apply still waits for an unreachable host"
    first = outcome["first"].hosts["lab1"]
    assert first.status == "failed"
    assert "lab1: the SSH connection was lost during Install Docker packages" in first.error
    assert_rerun_converges(lab, "lab1")


def test_a_rerun_installs_although_apts_lists_lack_the_repository(lab):
    """What a run stopped between writing Docker's sources and apt-get update leaves (or lists
    removed since): key and sources in place, apt without the repository, Docker missing."""
    assert apply("lab1").ok
    sh(lab, "lab1", "sudo apt-get -q -y remove docker-ce docker-ce-cli >/dev/null")
    sh(lab, "lab1", "sudo find /var/lib/apt/lists -maxdepth 1 -name '*_linux_debian_*' -delete")
    assert "Candidate: (none)" in sh(lab, "lab1", "apt-cache policy docker-ce").stdout
    rerun = apply("lab1")
    assert rerun.ok, rerun.hosts["lab1"].error
    changed = rerun.hosts["lab1"].changed
    assert changed[:2] == ["Update apt lists", "Install Docker packages"], changed
    assert_rerun_converges(lab, "lab1")


def test_docker_key_in_legacy_trusted_gpg_is_removed(lab):
    """apt-key era leftovers: Docker's key inside /etc/apt/trusted.gpg (lab1 is converged)."""
    armored = sh(lab, "lab1", f"cat {KEYRING}").stdout.encode()
    binary = base64.b64encode(keyring.dearmor(armored)).decode()
    sh(lab, "lab1", f"echo {binary} | base64 -d | sudo tee /etc/apt/trusted.gpg >/dev/null")
    result = apply("lab1")
    assert (
        result.ok and "Remove Docker's key from the legacy keyring" in result.hosts["lab1"].changed
    )
    assert sh(lab, "lab1", "ls /etc/apt/trusted.gpg", check=False).returncode != 0
    assert apt_works(lab, "lab1")
    assert apply("lab1").hosts["lab1"].status == "unchanged"


def write_inventory(tmp_path, lab, body: str) -> str:
    path = tmp_path / "inventory.py"
    path.write_text(
        "from provision_lab.inventory import lab_groups\n_lab = lab_groups()['lab']\n"
        f"_ghost_address = '{lab.config.address(90)}'\n" + body
    )
    return str(path)


def test_fail_percent_stops_a_bad_rollout(lab, tmp_path):
    inventory = write_inventory(
        tmp_path,
        lab,
        (
            "_ghost = dict(_lab[0][1], ssh_hostname=_ghost_address, ssh_connect_timeout=2)\n"
            "hosts = [*_lab, ('ghost1', _ghost), ('ghost2', _ghost)]\n"
        ),
    )
    report = tmp_path / "report.json"
    result = provision("apply", "-i", inventory, "--fail-percent", "10", "--report", str(report))
    assert result.returncode == 1
    data = json.loads(report.read_text())
    assert any("rollout stopped" in note for note in data["notes"])
    assert data["hosts"]["ghost1"]["status"] == "failed"
    assert "not run" in data["hosts"]["lab1"]["error"]


def test_secrets_never_appear_in_output_or_reports(lab, tmp_path):
    """Secrets in host data pass through the code that reads it (settings, the verification's
    settings file, the reports): none of them may come out."""
    password, key_password, token = "pw-canary-5be1c0", "kp-canary-47e0aa", "tok-canary-93ad2f"
    secrets = (
        f"ssh_password='{password}', ssh_key_password='{key_password}', "
        f"runner_registration_token='{token}'"
    )
    inventory = write_inventory(
        tmp_path,
        lab,
        (
            f"hosts = [(n, dict(d, {secrets})) for n, d in _lab]\n"
            f"hosts.append(('ghost', dict(_lab[0][1], ssh_hostname=_ghost_address, "
            f"ssh_connect_timeout=2, {secrets})))\n"
        ),
    )
    files = [tmp_path / name for name in ("a.json", "a.xml", "v.json", "v.xml", "s.json")]
    runs = [
        provision("apply", "-i", inventory, "--report", str(files[0]), "--junit", str(files[1])),
        provision("verify", "-i", inventory, "--report", str(files[2]), "--junit", str(files[3])),
        provision("status", "-i", inventory, "--report", str(files[4])),
    ]
    assert [run.returncode for run in runs] == [1, 1, 1]  # the ghost fails; the lab hosts pass
    data = json.loads(files[2].read_text())
    assert data["hosts"]["lab1"]["failed"] == 0 and data["hosts"]["lab1"]["passed"] > 10
    texts = [run.stdout + run.stderr for run in runs] + [f.read_text() for f in files]
    for text in texts:
        assert password not in text and key_password not in text and token not in text


def test_turning_host_key_checking_off_is_reported(lab, tmp_path):
    inventory = write_inventory(
        tmp_path,
        lab,
        ("hosts = [(n, dict(d, ssh_strict_host_key_checking='no')) for n, d in _lab[:1]]\n"),
    )
    result = provision("apply", "-i", inventory, "--dry")
    assert result.returncode == 0, result.stderr
    assert "host key checking is 'no'" in result.stdout


def test_tcp_socket_without_tls_is_warned_about(lab):
    options = '{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}'
    result = provision(
        "apply",
        "-i",
        INVENTORY,
        "--limit",
        "lab1",
        "--dry",
        "--data",
        f"docker_daemon_options={options}",
    )
    assert result.returncode == 0, result.stderr
    assert "without tlsverify" in result.stdout
