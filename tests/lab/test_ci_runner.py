"""The CI runner profile on a fresh lab host: applied and verified through the CLI as a user
would, a rerun changes nothing, and the prune job frees a planted dangling image."""

from __future__ import annotations

import json
import time

import pytest

from provision.profiles.ci_runner import prune

from .conftest import INVENTORY, provision, sh

PROFILE = ("--profile", "ci-runner", "--data", "ci_runner_prune_until=2s")


def run(command: str, report, *args: str, host: str = "lab1") -> dict:
    """``provision COMMAND`` with the profile on ``host``; its JSON report for that host."""
    limit = ("--limit", host)
    result = provision(command, "-i", INVENTORY, *PROFILE, *limit, *args, "--report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(report.read_text())["hosts"][host]


@pytest.fixture(scope="module")
def runner_host(lab, tmp_path_factory):
    lab.reset("lab1")
    return lab, run("apply", tmp_path_factory.mktemp("runner") / "apply.json")


def test_the_profile_installs_docker_and_the_runner(runner_host):
    lab, report = runner_host
    for operation in (
        "CI runner user",
        "Install Docker packages",
        "buildx builder for the runner user",
    ):
        assert any(name.endswith(operation) for name in report["changed"]), report["changed"]
    assert sh(lab, "lab1", "id -u runner").stdout.strip() != "0"


def test_the_profile_verifies_and_a_rerun_changes_nothing(runner_host, tmp_path):
    checks = run("verify", tmp_path / "verify.json")
    assert checks["failed"] == 0 and checks["passed"] >= 25
    assert run("apply", tmp_path / "again.json")["status"] == "unchanged"


def test_the_runner_uses_docker_without_sudo(runner_host):
    lab, _ = runner_host
    reference = lab.state["image"]["reference"]
    run = sh(lab, "lab1", f"sudo runuser -l runner -c 'docker run --rm {reference}'")
    assert "Hello from the provision lab" in run.stdout
    builders = sh(lab, "lab1", "sudo runuser -l runner -c 'docker buildx ls'").stdout
    assert "provision" in builders and "docker-container" in builders


def plant_dangling_image(lab) -> str:
    """Commit a container twice under one tag: the first image is left dangling."""
    reference = lab.state["image"]["reference"]
    sh(lab, "lab1", f"sudo docker create --name planted {reference} >/dev/null")
    first = sh(lab, "lab1", "sudo docker commit planted planted:1").stdout.strip()
    sh(lab, "lab1", "sudo docker commit -c 'ENV X=1' planted planted:1 && sudo docker rm planted")
    dangling = sh(lab, "lab1", "sudo docker images -q --no-trunc -f dangling=true").stdout
    assert first in dangling.split()
    return first


def test_the_scheduled_prune_frees_a_dangling_image(runner_host):
    lab, _ = runner_host
    planted = plant_dangling_image(lab)
    time.sleep(3)  # older than ci_runner_prune_until (2s)
    sh(lab, "lab1", "sudo systemctl start provision-docker-prune@scheduled.service")
    images = sh(lab, "lab1", "sudo docker images -q --no-trunc -a").stdout.split()
    assert planted not in images
    timers = sh(lab, "lab1", "systemctl is-enabled " + " ".join(prune.TIMERS)).stdout.split()
    assert timers == ["enabled", "enabled"]


def test_low_space_prunes_at_once(runner_host, tmp_path):
    lab, _ = runner_host
    planted = plant_dangling_image(lab)
    sh(lab, "lab1", "sudo systemctl start provision-docker-prune@low-space.service")
    assert planted in sh(lab, "lab1", "sudo docker images -q --no-trunc -a").stdout.split()
    result = provision("apply", "-i", INVENTORY, *PROFILE, "--data", "ci_runner_min_free_gb=100000")
    assert result.returncode == 0, result.stdout + result.stderr
    sh(lab, "lab1", "sudo systemctl start provision-docker-prune@low-space.service")
    assert planted not in sh(lab, "lab1", "sudo docker images -q --no-trunc -a").stdout.split()
    journal = sh(lab, "lab1", "sudo journalctl -u provision-docker-prune@low-space -o cat")
    assert "pruning everything unused" in journal.stdout


def test_a_rootless_runner_has_its_own_daemon_and_builder(lab, tmp_path):
    lab.reset("lab2")
    rootless = ("--data", "ci_runner_rootless=true")
    assert run("apply", tmp_path / "apply.json", *rootless, host="lab2")["status"] == "changed"
    checks = run("verify", tmp_path / "verify.json", *rootless, host="lab2")
    assert checks["failed"] == 0 and checks["passed"] >= 25
    assert "docker" not in sh(lab, "lab2", "id -Gn runner").stdout.split()
    own = "DOCKER_HOST=unix:///run/user/$(id -u)/docker.sock docker"
    builders = sh(lab, "lab2", f"sudo runuser -l runner -c '{own} buildx ls'").stdout
    assert "provision" in builders and "docker-container" in builders
    info = sh(
        lab, "lab2", f"sudo runuser -l runner -c '{own} info --format {{{{.SecurityOptions}}}}'"
    )
    assert "rootless" in info.stdout
    again = run("apply", tmp_path / "again.json", *rootless, host="lab2")
    assert again["status"] == "unchanged"
