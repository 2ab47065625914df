"""Fleet operations on lab hosts: first contact, an interrupted apply, rolling batches and
resume, the host lock between two controllers, and ad-hoc commands."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import paramiko
import pytest

from provision.docker.layout import SOURCES
from provision_lab.first_contact import FirstContact

from .conftest import INVENTORY, provision, sh

PASSWORD = "first-contact-" + secrets.token_hex(6)
PASSWORD_ENV = "PROVISION_TEST_ROOT_PASSWORD"


def inventory(path, hosts: list[tuple[str, str, dict]]) -> str:
    """An inventory of lab hosts: ``(name, lab host it is, extra data)``."""
    lines = ["from provision_lab.inventory import lab_groups", "_lab = dict(lab_groups()['lab'])"]
    entries = ", ".join(f"({name!r}, {{**_lab[{lab!r}], **{data!r}}})" for name, lab, data in hosts)
    path.write_text("\n".join(lines) + f"\nhosts = [{entries}]\n")
    return str(path)


def root_login(address: str) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            address, username="root", password=PASSWORD, look_for_keys=False, allow_agent=False
        )
    finally:
        client.close()


# first contact ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_server(lab, tmp_path_factory):
    """lab2 as a new server: only root may log in, with a password; an empty known_hosts."""
    lab.reset("lab2", FirstContact(PASSWORD))
    work = tmp_path_factory.mktemp("first-contact")
    known = work / "known_hosts"
    path = inventory(
        work / "inventory.py", [("lab2", "lab2", {"ssh_known_hosts_file": str(known)})]
    )
    yield lab, path, known
    lab.reset("lab2")


def bootstrap(
    path: str, report, user: str = "root", password: str = PASSWORD
) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{PASSWORD_ENV: password})
    return provision(
        "bootstrap",
        "-i",
        path,
        "--initial-user",
        user,
        "--password-env",
        PASSWORD_ENV,
        "--key-logins-only",
        "--report",
        str(report),
        env=env,
    )


def test_a_failed_first_login_shows_the_new_key_and_records_nothing(fresh_server, tmp_path):
    lab, path, known = fresh_server
    result = bootstrap(path, tmp_path / "failed.json", password="not-" + PASSWORD)
    assert result.returncode == 1, result.stdout + result.stderr
    host = json.loads((tmp_path / "failed.json").read_text())["hosts"]["lab2"]
    public = (lab.config.lab_dir / "hostkeys/lab2/ssh_host_ed25519_key.pub").read_text().split()
    listed = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=" ".join(public), capture_output=True, text=True
    ).stdout.split()[1]
    assert host["host_key"] == f"new ssh-ed25519 {listed}, not recorded (the login failed)"
    assert listed in result.stdout and "not recorded, as the login failed" in result.stdout
    assert "every host key matched" not in result.stdout
    assert not known.exists() or known.read_text() == ""


def test_bootstrap_makes_the_deploy_user_and_records_the_host_key(fresh_server, tmp_path):
    lab, path, known = fresh_server
    assert sh(lab, "lab2", "true", check=False).returncode != 0  # no deploy user yet
    result = bootstrap(path, tmp_path / "bootstrap.json")
    assert result.returncode == 0, result.stdout + result.stderr
    host = json.loads((tmp_path / "bootstrap.json").read_text())["hosts"]["lab2"]
    assert host["status"] == "changed"
    assert "user admin created" in host["changes"]
    assert any("passwordless sudo for admin" in c for c in host["changes"])
    assert any("password logins turned off" in c for c in host["changes"])
    # trust on first use: the key recorded is the host's own, and its fingerprint was shown
    public = (lab.config.lab_dir / "hostkeys/lab2/ssh_host_ed25519_key.pub").read_text().split()
    assert known.read_text().split() == [lab.config.address(2), public[0], public[1]]
    fingerprint = host["host_key"].split()[-1]
    assert fingerprint.startswith("SHA256:") and fingerprint in result.stdout
    assert "trust on first use" in result.stdout
    # the deploy user logs in with its key and has sudo; root's password no longer works
    assert (
        sh(
            lab, "lab2", "sudo -n visudo -c -q && sudo -n stat -c %a /etc/sudoers.d/provision-admin"
        ).stdout.strip()
        == "440"
    )
    with pytest.raises(paramiko.AuthenticationException):
        root_login(lab.config.address(2))


def test_interrupted_apply_stops_cleanly_and_a_rerun_converges(fresh_server, tmp_path):
    lab = fresh_server[0]
    report = tmp_path / "apply.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provision",
            "apply",
            "-i",
            INVENTORY,
            "--limit",
            "lab2",
            "--report",
            str(report),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while sh(lab, "lab2", f"test -e {SOURCES}", check=False).returncode != 0:
        assert process.poll() is None and time.monotonic() < deadline, "apply ended too soon"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)  # as a CI job's timeout does, mid-install
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, out + err
    assert "Traceback" not in err and "Traceback" not in out
    data = json.loads(report.read_text())
    assert data["interrupted"] == "SIGTERM"
    assert data["hosts"]["lab2"]["status"] == "interrupted"
    assert "interrupted" in out
    rerun = provision("apply", "-i", INVENTORY, "--limit", "lab2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    verify = provision("verify", "-i", INVENTORY, "--limit", "lab2")
    assert verify.returncode == 0, verify.stdout


def test_second_bootstrap_changes_nothing(fresh_server, tmp_path):
    lab, path, known = fresh_server
    before = known.read_text()
    result = bootstrap(path, tmp_path / "again.json")
    assert result.returncode == 0, result.stdout + result.stderr
    host = json.loads((tmp_path / "again.json").read_text())["hosts"]["lab2"]
    assert host == {"status": "unchanged", "host_key": "known", "changes": [], "error": None}
    assert known.read_text() == before


def test_bootstrap_refuses_a_host_whose_key_changed(fresh_server, tmp_path):
    lab, path, known = fresh_server
    other = (lab.config.lab_dir / "hostkeys/lab1/ssh_host_ed25519_key.pub").read_text().split()
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{lab.config.address(2)} {other[0]} {other[1]}\n")
    path = inventory(
        tmp_path / "inventory.py", [("lab2", "lab2", {"ssh_known_hosts_file": str(forged)})]
    )
    result = bootstrap(path, tmp_path / "forged.json")
    assert result.returncode == 1
    error = json.loads((tmp_path / "forged.json").read_text())["hosts"]["lab2"]["error"]
    assert "is not the one recorded in" in error and str(forged) in error
    assert forged.read_text().split() == [lab.config.address(2), other[0], other[1]]


def test_bootstrap_through_an_image_users_sudo_with_its_password(lab, tmp_path):
    """An image's default user whose sudo asks for the password, as on some providers."""
    lab.reset("lab2", FirstContact(PASSWORD, user="ubuntu"))
    try:
        path = inventory(tmp_path / "inventory.py", [("lab2", "lab2", {})])
        result = bootstrap(path, tmp_path / "ubuntu.json", user="ubuntu")
        assert result.returncode == 0, result.stdout + result.stderr
        host = json.loads((tmp_path / "ubuntu.json").read_text())["hosts"]["lab2"]
        assert host["host_key"] == "known"  # the lab's known_hosts has it
        assert "user admin created" in host["changes"]
        assert any("password logins turned off" in c for c in host["changes"])
        assert sh(lab, "lab2", "sudo -n id -u").stdout.strip() == "0"
        assert PASSWORD not in result.stdout + result.stderr
    finally:
        lab.reset("lab2")


# rolling batches ----------------------------------------------------------------------------


def test_batches_stop_on_a_failing_batch_and_resume_skips_the_done_hosts(lab, tmp_path):
    bad = {"docker_version": "99.0.0"}  # no such version: that host's apply fails
    hosts = [("lab2", "lab2", {}), ("lab1", "lab1", bad), ("lab1-again", "lab1", {})]
    first = inventory(tmp_path / "bad.py", hosts)
    report = tmp_path / "rollout.json"
    result = provision("apply", "-i", first, "--batch", "1", "--report", str(report))
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(report.read_text())
    states = {name: host["state"] for name, host in data["hosts"].items()}
    assert states == {"lab2": "done", "lab1": "failed", "lab1-again": "not attempted"}
    assert data["hosts"]["lab2"]["verify"] == "passed" and data["hosts"]["lab2"]["batch"] == 1
    assert "--fail-percent 0%" in data["rollout"]["stopped"]
    assert data["summary"]["not attempted"] == 1

    fixed = inventory(tmp_path / "fixed.py", [(n, lab_host, {}) for n, lab_host, _ in hosts])
    resumed = tmp_path / "resumed.json"
    again = provision("apply", "-i", fixed, "--resume", str(report), "--report", str(resumed))
    assert again.returncode == 0, again.stdout + again.stderr
    data = json.loads(resumed.read_text())
    assert data["hosts"]["lab2"] == {"state": "done", "earlier": True}
    assert data["rollout"]["batches"] == [["lab1"], ["lab1-again"]]
    assert all(data["hosts"][n]["verify"] == "passed" for n in ("lab1", "lab1-again"))


# the host lock ------------------------------------------------------------------------------

HOLDER = """\
import sys, paramiko
from provision.orchestrate.lock import HostLock, owner
client = paramiko.SSHClient()
client.load_host_keys(sys.argv[2])
client.connect(sys.argv[1], username="admin", key_filename=sys.argv[3])
HostLock("lab1", client.get_transport()).acquire(10, owner())
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_controller_waits_for_the_lock_and_names_the_holder(lab, tmp_path):
    config = lab.config
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLDER,
            config.address(1),
            str(config.known_hosts),
            str(config.key_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        report = tmp_path / "locked.json"
        started = time.monotonic()
        result = provision(
            "apply", "-i", INVENTORY, "--limit", "lab1", "--lock-wait", "2", "--report", str(report)
        )
        assert result.returncode == 1 and time.monotonic() - started >= 2
        error = json.loads(report.read_text())["hosts"]["lab1"]["error"]
        assert f"(pid {holder.pid}, user " in error and "started 20" in error
        assert "another provision run holds this host" in error
        assert error.startswith("lab1: ")
    finally:
        holder.kill()  # no clean exit: the lock goes with the connection
        holder.wait()
    result = provision("apply", "-i", INVENTORY, "--limit", "lab1", "--lock-wait", "30")
    assert result.returncode == 0, result.stdout + result.stderr


# ad-hoc commands ----------------------------------------------------------------------------


def test_exec_reports_every_host_and_failures_hide_nothing(lab, tmp_path):
    ghost = {"ssh_hostname": lab.config.address(90), "ssh_connect_timeout": 3}
    path = inventory(
        tmp_path / "exec.py", [("lab1", "lab1", {}), ("lab2", "lab2", {}), ("ghost", "lab1", ghost)]
    )
    report = tmp_path / "exec.json"
    result = provision(
        "exec",
        "-i",
        path,
        "--report",
        str(report),
        "--",
        'echo "$(hostname)";',
        'test "$(hostname)" = lab1',
    )
    assert result.returncode == 1
    hosts = json.loads(report.read_text())["hosts"]
    assert (hosts["lab1"]["exit_code"], hosts["lab1"]["stdout"]) == (0, "lab1\n")
    assert (hosts["lab2"]["exit_code"], hosts["lab2"]["stdout"]) == (1, "lab2\n")
    assert hosts["ghost"]["exit_code"] is None and hosts["ghost"]["error"].startswith("ghost: ")
    assert all(name in result.stdout for name in ("lab1", "lab2", "ghost"))
    root = tmp_path / "root.json"
    as_root = provision(
        "exec",
        "-i",
        INVENTORY,
        "--limit",
        "lab1,lab2",
        "--sudo",
        "--report",
        str(root),
        "--",
        "id",
        "-u",
    )
    assert as_root.returncode == 0, as_root.stdout
    hosts = json.loads(root.read_text())["hosts"]
    assert {name: host["stdout"] for name, host in hosts.items()} == {"lab1": "0\n", "lab2": "0\n"}
