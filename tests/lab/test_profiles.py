"""A fleet whose inventory gives its hosts different profiles, run as one: lab1 a Docker host,
lab2 a CI runner (``provision_profile`` in its group's data). ``apply``, ``verify`` and
``status`` give each host its own profile, with and without ``--limit``."""

from __future__ import annotations

import json

import pytest

from provision.profiles.ci_runner import prune

from .conftest import provision, sh

INVENTORY = """\
from provision_lab.inventory import lab_groups

hosts = dict(lab_groups()["lab"])
docker_hosts = [("lab1", hosts["lab1"])]
runners = (
    [("lab2", hosts["lab2"])],
    {"provision_profile": "ci-runner", "ci_runner_prune_until": "2s"},
)
"""
RUNNER_CHECK = "test_runner_user_is_not_root"


def run(command: str, inventory, report, *args: str) -> dict:
    """``provision COMMAND -i inventory ARGS --report``: its report, once it exited 0."""
    result = provision(command, "-i", str(inventory), *args, "--report", str(report))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(report.read_text())["hosts"]


@pytest.fixture(scope="module")
def mixed(lab, tmp_path_factory):
    """Both hosts fresh, then applied in one run over the mixed selection."""
    lab.reset("lab1")
    lab.reset("lab2")
    folder = tmp_path_factory.mktemp("profiles")
    inventory = folder / "fleet.py"
    inventory.write_text(INVENTORY)
    applied = run("apply", inventory, folder / "apply.json", "--limit", "lab1,lab2")
    yield lab, inventory, applied
    lab.reset("lab2")  # no runner left behind for the tests after these


def test_apply_gives_each_host_its_own_profile(mixed):
    lab, _, applied = mixed
    assert applied["lab1"]["status"] == applied["lab2"]["status"] == "changed"
    assert any(name.endswith("CI runner user") for name in applied["lab2"]["changed"])
    assert not any("runner" in name for name in applied["lab1"]["changed"])
    assert sh(lab, "lab2", "id -u runner").stdout.strip() not in ("", "0")
    assert sh(lab, "lab1", "id -u runner", check=False).returncode != 0


def test_verify_runs_each_hosts_own_checks(mixed, tmp_path):
    import xml.etree.ElementTree as ET

    _, inventory, _ = mixed
    junit = tmp_path / "verify.xml"
    checked = run("verify", inventory, tmp_path / "verify.json", "--junit", str(junit))
    assert checked["lab1"]["failed"] == checked["lab2"]["failed"] == 0  # no --limit: both
    names = {"lab1": set(), "lab2": set()}
    for case in ET.parse(junit).iter("testcase"):
        names[case.get("classname")].add(case.get("name").split("[")[0])
    assert RUNNER_CHECK in names["lab2"] and RUNNER_CHECK not in names["lab1"]
    assert names["lab1"] < names["lab2"]  # the runner's checks are the Docker checks and more


def test_status_shows_drift_from_each_hosts_own_profile(mixed, tmp_path):
    lab, inventory, _ = mixed
    both = run("status", inventory, tmp_path / "status.json", "--limit", "lab1,lab2")
    assert both["lab1"]["changed"] == both["lab2"]["changed"] == []
    sh(lab, "lab2", f"sudo rm {prune.SCRIPT}")  # drift only the runner profile knows of
    runner = run("status", inventory, tmp_path / "drift.json", "--limit", "lab2")
    assert runner["lab2"]["changed"], runner["lab2"]
    again = run("apply", inventory, tmp_path / "again.json", "--limit", "lab2")
    assert again["lab2"]["status"] == "changed"
    assert sh(lab, "lab2", f"test -x {prune.SCRIPT}", check=False).returncode == 0
