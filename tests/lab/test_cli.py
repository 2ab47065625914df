"""The ``provision`` command driven as a user would, against lab hosts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import INVENTORY, provision, sh


@pytest.fixture(scope="module")
def fresh_lab2(lab):
    lab.reset("lab2")
    return lab


def test_dry_run_changes_nothing(fresh_lab2, tmp_path):
    report = tmp_path / "dry.json"
    result = provision(
        "apply", "-i", INVENTORY, "--limit", "lab2", "--dry", "--report", str(report)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["dry"] is True and data["hosts"]["lab2"]["changed_operations"] > 0
    verify = provision("verify", "-i", INVENTORY, "--limit", "lab2")
    assert verify.returncode == 1
    assert sh(fresh_lab2, "lab2", "dpkg -s docker-ce", check=False).returncode != 0


def test_limit_applies_to_the_named_host_only(fresh_lab2, tmp_path):
    report = tmp_path / "apply.json"
    result = provision("apply", "-i", INVENTORY, "--limit", "lab2", "--report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    assert list(data["hosts"]) == ["lab2"]
    assert data["summary"] == {"hosts": 1, "changed": 1, "unchanged": 0, "failed": 0}
    assert data["hosts"]["lab2"]["status"] == "changed"


def test_apply_and_verify_reports(fresh_lab2, tmp_path):
    first = provision("apply", "-i", INVENTORY)
    assert first.returncode == 0, first.stdout + first.stderr
    report, junit = tmp_path / "apply.json", tmp_path / "apply.xml"
    second = provision("apply", "-i", INVENTORY, "--report", str(report), "--junit", str(junit))
    assert second.returncode == 0
    data = json.loads(report.read_text())
    assert (
        data["command"] == "apply" and data["summary"]["unchanged"] == data["summary"]["hosts"] == 2
    )
    assert all(h["changed_operations"] == 0 and h["error"] is None for h in data["hosts"].values())
    cases = ET.parse(junit).getroot().iter("testcase")
    assert sorted(case.get("name") for case in cases) == ["lab1", "lab2"]

    vreport, vjunit = tmp_path / "verify.json", tmp_path / "verify.xml"
    verify = provision("verify", "-i", INVENTORY, "--report", str(vreport), "--junit", str(vjunit))
    assert verify.returncode == 0, verify.stdout
    vdata = json.loads(vreport.read_text())
    for host in ("lab1", "lab2"):
        assert vdata["hosts"][host]["failed"] == 0 and vdata["hosts"][host]["passed"] >= 15
    root = ET.parse(vjunit).getroot()
    assert sum(1 for _ in root.iter("testcase")) == sum(
        h["passed"] for h in vdata["hosts"].values()
    )
    assert not list(root.iter("failure"))
    assert "passed" in verify.stdout and "lab1" in verify.stdout


def test_status_shows_versions_and_no_drift(fresh_lab2):
    result = provision("status", "-i", INVENTORY)
    assert result.returncode == 0, result.stderr
    assert "Debian GNU/Linux 12" in result.stdout and "Debian GNU/Linux 13" in result.stdout
    assert "none" in result.stdout and "active/enabled" in result.stdout


# what an apply that touched lab1 would change: dpkg's status and the apt sources
TOUCHED = "stat -c %Y /var/lib/dpkg/status /etc/apt/sources.list.d"
LAB_HOSTS = "from provision_lab.inventory import lab_groups\nhosts = lab_groups()['lab']\n"
BAD_INVENTORIES = {
    "syntax error": ("hosts = [\n  ('a', {'ssh_hostname': '10.0.0.1'}\n\nx = (\n", (), "line 2: "),
    "host with no address": (
        LAB_HOSTS + "hosts.append(('lab9', {'ssh_hostname': None}))\n",
        (),
        "host lab9 has no address (ssh_hostname is None); set ssh_hostname",
    ),
    "unknown group in --limit": (LAB_HOSTS, ("--limit", "web"), "--limit web matches no host"),
    "missing SSH key file": (
        LAB_HOSTS + "hosts[0][1]['ssh_key'] = '/nonexistent/id_ed25519'\n",
        (),
        "lab1: ssh_key /nonexistent/id_ed25519 does not exist; fix the path.",
    ),
}


@pytest.mark.parametrize("case", BAD_INVENTORIES)
def test_bad_inventory_exits_2_naming_the_file_and_the_fix(lab, tmp_path, case):
    text, args, expected = BAD_INVENTORIES[case]
    inventory = tmp_path / "inventory.py"
    inventory.write_text(text)
    before = sh(lab, "lab1", TOUCHED).stdout
    result = provision("apply", "-i", str(inventory), *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and str(inventory) in result.stderr
    assert expected in result.stderr
    assert sh(lab, "lab1", TOUCHED).stdout == before


def test_settings_error_exits_2_before_touching_hosts(lab):
    state = TOUCHED + " /etc/docker"
    before = {host: sh(lab, host, state, check=False).stdout for host in ("lab1", "lab2")}
    result = provision(
        "apply",
        "-i",
        INVENTORY,
        "--data",
        "docker_channel=nightly",
        "--data",
        "docker_hold=maybe",
        "--data",
        'docker_daemon_options={"live-restore": "yes"}',
    )
    assert result.returncode == 2
    assert "docker_channel" in result.stderr and "docker_hold" in result.stderr
    assert "live-restore" in result.stderr
    assert "lab1" in result.stderr and "lab2" in result.stderr
    assert before == {host: sh(lab, host, state, check=False).stdout for host in before}


def with_ghost(lab, tmp_path) -> Path:
    """The lab's inventory and a host at an address where nothing answers."""
    inventory = tmp_path / "with_ghost.py"
    inventory.write_text(
        "from provision_lab.inventory import lab_groups\n"
        "_lab = lab_groups()['lab']\n"
        "_ghost = dict(_lab[0][1], ssh_hostname='"
        + lab.config.address(90)
        + "', ssh_connect_timeout=3)\n"
        "hosts = [*_lab, ('ghost', _ghost)]\n"
    )
    return inventory


def test_unreachable_host_fails_while_others_converge(lab, tmp_path):
    inventory = with_ghost(lab, tmp_path)
    report = tmp_path / "report.json"
    result = provision("apply", "-i", str(inventory), "--report", str(report))
    assert result.returncode == 1
    data = json.loads(report.read_text())
    assert data["hosts"]["ghost"]["status"] == "failed"
    assert "ghost" in data["hosts"]["ghost"]["error"]
    assert (
        data["hosts"]["lab1"]["status"] != "failed" and data["hosts"]["lab2"]["status"] != "failed"
    )
    # verify: the host's own probe finds it unreachable, one sentence; the others are checked
    checked = provision("verify", "-i", str(inventory), "--report", str(report))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    hosts = json.loads(report.read_text())["hosts"]
    ghost = hosts["ghost"]
    assert (ghost["passed"], ghost["failed"], ghost["failures"]) == (0, 1, [])
    assert ghost["error"].startswith("ghost: the checks could not read the host (ssh: ")
    assert ghost["error"].endswith("they need SSH access and passwordless sudo.")
    assert hosts["lab1"]["status"] == hosts["lab2"]["status"] == "passed", hosts
