"""verify's results as data: the pytest plugin that records each check of each host, run in a
real pytest process with testinfra's plugin, as ``provision verify`` runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from provision.core import compat
from provision.verify import results
from provision.verify.results import Check

SUITE = """\
import pytest

from provision.verify.probe import UNREAD, ProbeError


def test_a(host):
    pass


@pytest.mark.parametrize("unit", ["docker", "containerd"])
def test_service(host, unit):
    assert unit == "containerd", f"{unit} is inactive"


def test_skipped(host):
    pytest.skip("not on this host")


@pytest.fixture
def probed(host):
    name = host.backend.get_pytest_id().removeprefix("ssh://")
    raise ProbeError(f"{name}: {UNREAD} (" + "timed out " * 40 + ")")


def test_unread(probed):
    pass


def test_long(host):
    assert False, "y" * 1000


@pytest.fixture
def torn(host):
    yield
    raise RuntimeError("left behind")


def test_torn(torn):
    pass


def test_frozen(host):
    import gc

    assert gc.get_freeze_count() > 0  # the collected checks are left out of gc's scans


def test_no_host():
    assert False
"""


def run_suite(tmp_path, hosts: str) -> dict[str, list[Check]]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    found = tmp_path / "checks.jsonl"
    command = [sys.executable, "-m", "pytest", "-p", compat.TESTINFRA_PLUGIN]
    command += ["-p", results.__name__, "-q", "-p", "no:cacheprovider", f"--hosts={hosts}"]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", results.ENV: str(found)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr  # some checks fail
    names = [host.removeprefix("ssh://") for host in hosts.split(",")]
    return results.read(found, names)


def test_each_hosts_checks_are_recorded_with_why_they_failed(tmp_path):
    found = run_suite(tmp_path, "ssh://web,ssh://web-1")
    for host in ("web", "web-1"):  # a host named like the start of another keeps its own
        unread = f"{host}: the checks could not read the host (" + "timed out " * 40 + ")"
        assert found[host] == [
            Check("test_a", True),
            Check("test_service[docker]", False, "AssertionError: docker is inactive"),
            Check("test_service[containerd]", True),
            Check("test_unread", False, unread),  # the whole sentence, however long
            Check("test_long", False, "AssertionError: " + "y" * 284),
            Check("test_torn", False, "RuntimeError: left behind"),  # failed in tear-down
            Check("test_frozen", True),
        ]
    # one line per call, and per set-up or tear-down that did not pass (test_unread's set-up,
    # test_torn's tear-down): 8 checks, 9 lines a host
    assert len((tmp_path / "checks.jsonl").read_text().splitlines()) == 2 * 9


def test_hosts_not_asked_for_are_left_out(tmp_path):
    assert run_suite(tmp_path, "ssh://web") == {"web": run_suite(tmp_path, "ssh://web")["web"]}
    (tmp_path / "checks.jsonl").unlink()
    found = run_suite(tmp_path, "ssh://web,ssh://other")
    assert set(results.read(tmp_path / "checks.jsonl", ["web"])) == {"web"}
    assert results.read(tmp_path / "none.jsonl", ["web"]) == {"web": []}
    assert found["other"] and found["web"]
