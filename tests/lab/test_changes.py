"""What a user sees of a run on lab hosts: the install plan, drift as diffs, JSON for scripts."""

from __future__ import annotations

import json
import re

import pytest

from provision.docker.descriptions import spaced
from provision.profiles import profile

from .conftest import INVENTORY, fleet, provision, sh

# what a run that touched lab2 would change: dpkg's status, the apt sources, Docker's files
TOUCHED = (
    "sudo stat -c '%n %Y %a' /var/lib/dpkg/status /etc/apt/sources.list.d "
    "/etc/apt/sources.list.d/* /etc/apt/keyrings/* /etc/docker/daemon.json 2>/dev/null; "
    "sudo md5sum /etc/apt/sources.list.d/* /etc/docker/daemon.json 2>/dev/null; true"
)
JSON_FILE = 'docker_daemon_options={"log-driver": "json-file"}'
LOCAL = 'docker_daemon_options={"log-driver": "local"}'


@pytest.fixture(scope="module")
def fresh_lab2(lab):
    lab.reset("lab2")
    return lab


def run_json(*args: str) -> dict:
    """``provision ARGS --json``: stdout must be exactly one JSON document."""
    return json.loads(run_json_with_log(*args)[0])


def run_json_with_log(*args: str) -> tuple[str, str]:
    result = provision(*args, "--json")
    assert result.returncode in (0, 1), result.stderr
    return result.stdout, result.stderr


def by_operation(report: dict, host: str = "lab2") -> dict[str, dict]:
    return {change["operation"]: change for change in report["hosts"][host]["changes"]}


def test_dry_run_on_a_fresh_host_lists_the_install_plan(fresh_lab2):
    before = sh(fresh_lab2, "lab2", TOUCHED).stdout
    report = run_json("apply", "-i", INVENTORY, "--limit", "lab2", "--dry")
    plan = by_operation(report)
    assert list(plan) == report["hosts"]["lab2"]["changed"]
    assert {
        "Install Docker's signing key",
        "Add Docker's apt repository",
        "Update apt lists",
        "Install Docker packages",
        "Docker group and users",
        "containerd service",
        "docker service",
    } <= set(plan)
    packages = {p["name"]: p["action"] for p in plan["Install Docker packages"]["packages"]}
    settings = fleet("lab2").settings(profile("docker").checks)["lab2"]
    assert packages == dict.fromkeys(settings.docker_packages, "install")
    fingerprint = settings.docker_gpg_fingerprint
    assert spaced(fingerprint) in plan["Install Docker's signing key"]["changes"][0]
    assert "+Suites: trixie\n" in plan["Add Docker's apt repository"]["diff"]

    shown = provision("apply", "-i", INVENTORY, "--limit", "lab2", "--dry")
    assert shown.returncode == 0, shown.stderr
    assert "lab2: " in shown.stdout and " operations would change" in shown.stdout
    assert "install docker-ce: not installed → newest in the repository" in shown.stdout
    assert "+Signed-By: /etc/apt/keyrings/docker.asc" in shown.stdout
    assert "BEGIN PGP" not in shown.stdout + json.dumps(report)
    assert sh(fresh_lab2, "lab2", TOUCHED).stdout == before


def test_real_run_reports_installed_versions(fresh_lab2):
    out, log = run_json_with_log("apply", "-i", INVENTORY, "--limit", "lab2", "--data", LOCAL)
    report = json.loads(out)
    # a cold apply says what it does while it runs: in a log, a plain line every 5 s
    assert re.search(r"^provision apply \(\d+ s\): lab2: .+ \(\d+/\d+\)$", log, re.M), log
    assert report["summary"]["failed"] == 0, report
    done = by_operation(report)
    # described from what each operation saw when it ran: the package started docker, and the
    # new configuration restarted it, with how long it was down (systemd's timestamps)
    restart, down = done["docker service"]["changes"]
    assert restart == (
        "restart docker: Configure the Docker daemon, Install Docker packages changed it"
    )
    assert re.fullmatch(r"docker was down \d+\.\d s", down), down
    installed = done["Install Docker packages"]["packages"]
    assert installed and all(p["action"] == "install" for p in installed)
    assert all(re.match(r"^\d", p["to"]) for p in installed), installed  # real versions
    versions = sh(fresh_lab2, "lab2", "dpkg-query -W -f='${Package} ${Version}\\n'").stdout
    for package in installed:
        assert f"{package['name']} {package['to']}\n" in versions


def test_dry_run_on_a_drifted_host_shows_the_diff_and_changes_nothing(fresh_lab2):
    sh(
        fresh_lab2,
        "lab2",
        "sudo sh -c 'chmod 600 /etc/apt/keyrings/docker.asc; "
        "sed -i s/trixie/bookworm/ /etc/apt/sources.list.d/docker.sources'",
    )
    before = sh(fresh_lab2, "lab2", TOUCHED).stdout
    shown = provision("apply", "-i", INVENTORY, "--limit", "lab2", "--dry", "--data", JSON_FILE)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "mode of /etc/apt/keyrings/docker.asc: 600 → 644" in out
    assert "-Suites: bookworm\n" in out.replace("      ", "")
    assert "+Suites: trixie\n" in out.replace("      ", "")
    assert '-  "log-driver": "local"' in out and '+  "log-driver": "json-file"' in out
    assert "restart docker: Configure the Docker daemon changed it" in out
    assert "Install Docker packages" not in out
    assert sh(fresh_lab2, "lab2", TOUCHED).stdout == before

    report = run_json("apply", "-i", INVENTORY, "--limit", "lab2", "--data", JSON_FILE)
    assert report["summary"] == {"hosts": 1, "changed": 1, "unchanged": 0, "failed": 0}
    assert set(by_operation(report)) == {
        "Install Docker's signing key",
        "Add Docker's apt repository",
        "Update apt lists",
        "Configure the Docker daemon",
        "docker service",
    }


def test_json_of_verify_and_status_is_the_only_output(fresh_lab2):
    verify = run_json("verify", "-i", INVENTORY, "--limit", "lab2", "--data", JSON_FILE)
    assert verify["command"] == "verify" and verify["summary"]["failed"] == 0, verify
    status = run_json("status", "-i", INVENTORY, "--limit", "lab2", "--data", JSON_FILE)
    assert status["hosts"]["lab2"]["changes"] == [] and status["facts"]["lab2"]["docker"]
    failing = provision("verify", "-i", INVENTORY, "--limit", "lab2", "--data", LOCAL, "--json")
    assert failing.returncode == 1  # daemon.json holds other options than the settings
    assert json.loads(failing.stdout)["summary"]["failed"] == 1
