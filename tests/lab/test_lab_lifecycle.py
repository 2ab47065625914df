"""Stopping the lab, also after a crash: nothing of it is left on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from provision_lab import network
from provision_lab.system import cmdline, mounts_under, pids_matching

from .conftest import sh

pytestmark = pytest.mark.lab_teardown


def lab_processes(lab) -> list[int]:
    return pids_matching(lambda pid: any(str(lab.config.lab_dir) in arg for arg in cmdline(pid)))


def cgroups(lab) -> list:
    return [path for m in lab.machines() for path in (m.cgroup, m.legacy_cgroup) if path]


def assert_nothing_left(lab, veths, groups=()):
    assert lab_processes(lab) == []
    assert [path for path in groups if path.exists()] == []
    assert mounts_under(lab.config.lab_dir) == []
    assert not network.bridge_exists(lab.config)
    tag = f"{network.COMMENT}-{lab.config.bridge}"
    assert network.tagged_rules("nat", tag) == [] and network.tagged_rules("filter", tag) == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not [veth for veth in veths if veth in links]


def test_killed_host_recovers_with_down_and_up(lab):
    veths, groups = [m.veth for m in lab.machines()], cgroups(lab)
    pid = lab.machine("lab1").pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while lab.machine("lab1").is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [row.state for row in lab.status() if row.name == "lab1"] == ["stopped"]
    lab.down()
    assert_nothing_left(lab, veths, groups)
    rows = lab.up(2, ["bookworm", "trixie"])
    assert [row.state for row in rows] == ["running", "running"]
    assert sh(lab, "lab1", "systemctl is-system-running").stdout.strip() == "running"


def test_down_leaves_nothing_and_can_be_repeated(lab):
    veths, groups = [m.veth for m in lab.machines()], cgroups(lab)
    assert veths and [path for path in groups if path.exists()]
    lab.down()
    assert_nothing_left(lab, veths, groups)
    lab.down()
    assert_nothing_left(lab, veths, groups)
    assert not lab.config.state_file.exists()
