"""Engine upgrades and downgrades on one host: the replaced daemon restarts, the report says
for how long it was down; ``docker_live_restore`` keeps containers running meanwhile."""

from __future__ import annotations

import json

import pytest

from provision.core.errors import SettingsError
from provision.docker.daemon import daemon_config
from provision.docker.deploy import DAEMON_JSON, restart_causes
from provision.docker.facts import DaemonDowntime
from provision.docker.validation import from_host_data

from .fakes import DOCKER_VERSION, converged_machine
from .test_deploy import after_update, run_one, written_to

OLDER = "5:25.0.5-1~debian.12~bookworm"
RESTART_DOCKER = "systemctl reset-failed docker; systemctl restart docker"
RESTART_CONTAINERD = "systemctl reset-failed containerd; systemctl restart containerd"


def engine_at(version: str):
    machine = converged_machine()
    machine.services.update(docker=("active", "enabled"), containerd=("active", "enabled"))
    machine.packages["docker-ce"] = ("ii", version)
    machine.packages["docker-ce-cli"] = ("ii", version)
    machine.candidates = {"docker-ce": [DOCKER_VERSION], "docker-ce-cli": [DOCKER_VERSION]}
    return machine


def service_change(result, unit: str) -> dict:
    return next(c for c in result.changes if c["operation"] == f"{unit} service")


@pytest.mark.parametrize("before", [OLDER, "5:27.3.1-1~debian.12~bookworm"])
def test_a_replaced_engine_restarts_docker_and_tells_how_long_it_was_down(before) -> None:
    """Upgrade or downgrade: Debian's scripts leave the old daemon running; the deploy
    restarts it, and only it (containerd.io stayed)."""
    machine = engine_at(before)
    machine.daemon_cycle = (7_000_000, 8_250_000)
    result, commands = run_one(machine, docker_version="26.1.5")
    assert result.status == "changed", result.error
    assert f"docker-ce={DOCKER_VERSION}" in after_update(commands)[0]
    assert commands[-1] == RESTART_DOCKER
    assert RESTART_CONTAINERD not in commands
    docker = service_change(result, "docker")
    assert docker["downtime_s"] == 1.25
    assert docker["changes"] == [
        "restart docker: Install Docker packages changed it",
        "docker was down 1.2 s",
    ]


def test_a_new_containerd_restarts_containerd_then_docker() -> None:
    machine = engine_at(DOCKER_VERSION)
    machine.policy = {"containerd.io": "2.1.9-1"}
    result, commands = run_one(machine, docker_packages_state="latest")
    assert result.status == "changed", result.error
    assert "containerd.io" in after_update(commands)[0]
    assert commands[-2:] == [RESTART_CONTAINERD, RESTART_DOCKER]


def test_a_hold_alone_restarts_nothing() -> None:
    result, commands = run_one(engine_at(DOCKER_VERSION), docker_hold=True)
    assert commands == ["apt-mark hold docker-ce docker-ce-cli"]
    assert all("downtime_s" not in change for change in result.changes)


def test_a_stopped_docker_is_not_restarted_by_an_upgrade() -> None:
    causes = restart_causes("docker", False, ["config"], "packages", ["docker-ce"])
    assert causes == []
    assert restart_causes("docker.socket", True, ["config"], "packages", ["docker-ce"]) == []
    assert restart_causes("containerd", True, ["config"], "packages", ["docker-ce"]) == []
    assert restart_causes("docker", True, ["c"], "p", ["docker-buildx-plugin"]) == ["c"]


def test_live_restore_is_written_and_restarts_docker_once() -> None:
    machine = engine_at(DOCKER_VERSION)
    result, commands = run_one(machine, docker_live_restore=True)
    assert json.loads(written_to(commands, DAEMON_JSON))["live-restore"] is True
    assert commands.count(RESTART_DOCKER) == 1
    assert daemon_config(from_host_data({}), DOCKER_VERSION).get("live-restore") is None


def test_live_restore_must_be_true_or_false() -> None:
    with pytest.raises(SettingsError, match="docker_live_restore must be true or false"):
        from_host_data({"docker_live_restore": "yes"}, "web1")


@pytest.mark.parametrize(
    ("lines", "seconds"),
    [
        (["ActiveExitTimestampMonotonic=7000000", "ActiveEnterTimestampMonotonic=8250000"], 1.25),
        (["ActiveExitTimestampMonotonic=0", "ActiveEnterTimestampMonotonic=8250000"], None),
        (["ActiveExitTimestampMonotonic=9000000", "ActiveEnterTimestampMonotonic=8250000"], None),
        (["ActiveExitTimestampMonotonic=x", "ActiveEnterTimestampMonotonic=1"], None),
        ([], None),
    ],
)
def test_downtime_is_the_last_stop_to_the_last_start(lines, seconds) -> None:
    """Never stopped since boot, or stopped and not started again: no downtime to tell."""
    assert DaemonDowntime().process(lines) == seconds
