"""Nothing changes on a host before the preflight passed: every profile's install starts with
it, and a preflight that fails leaves the host exactly as it was, whatever the profile."""

from __future__ import annotations

import dataclasses

import pytest
from pyinfra.api import Inventory

from provision.core.recording import calls
from provision.docker.validation import from_host_data
from provision.orchestrate.inventory import Fleet
from provision.orchestrate.run import run_deploy
from provision.profiles import NAMES, profile
from provision.profiles.ci_runner.deploy import runner_queries
from provision.profiles.ci_runner.settings import runner_settings

from .fakes import (
    DOCKER_KEY,
    PACKAGE_VERSIONS,
    FakeMachine,
    fake_responses,
    fresh_machine,
    is_fact_command,
)

KEY_URL = "https://download.docker.com/linux/debian/gpg"
RUNNER = {"provision_profile": "ci-runner"}
# the settings that add operations of their own, per profile
VARIANTS = {
    "docker": [{}, {"docker_rootless_users": ["alice"]}, {"docker_audit_rules": True}],
    "ci-runner": [{}, {"ci_runner_rootless": True}, {"ci_runner_gitlab": True}],
}
CASES = [(name, data) for name in NAMES for data in VARIANTS[name]]


def run(name: str, machine: FakeMachine, **data):
    """Profile ``name``'s deploy on a fake host: its result, its operations in their order,
    and the commands it ran (fact commands left out)."""
    runner = runner_settings(data) if name == "ci-runner" else None
    docker = from_host_data({k: v for k, v in data.items() if not k.startswith("ci_")})
    extra = []
    if runner is not None:
        user = runner.ci_runner_user
        field = "docker_rootless_users" if runner.ci_runner_rootless else "docker_users"
        docker = dataclasses.replace(docker, **{field: (*getattr(docker, field), user)})
        extra = runner_queries(runner)
    host_data = {
        **data,
        **(RUNNER if runner else {}),
        "fake_responses": fake_responses(machine, docker, extra),
        "fake_delay": 0,
        "fake_delay_jitter": 0,
    }
    inventory = Inventory(([("@fake/web1", host_data)], {}))
    fleet = Fleet("t.py", inventory, list(inventory))
    result = run_deploy(fleet, profile(name).deploy, "apply")
    host = inventory.get_host("@fake/web1")
    ordered = [call.name for call in calls(host.state, host.name)]
    executed = [c for c in host.connector.executed_commands if not is_fact_command(c)]
    return result.hosts["@fake/web1"], ordered, executed


def fresh(**changes) -> FakeMachine:
    machine = fresh_machine(urls={KEY_URL: DOCKER_KEY}, **changes)
    machine.users |= {"runner"}  # useradd's work, as the next fact read would see it
    return machine


@pytest.mark.parametrize(("name", "data"), CASES, ids=[f"{n}-{sorted(d)}" for n, d in CASES])
def test_every_profile_runs_the_preflight_before_any_other_operation(name, data):
    result, ordered, commands = run(name, fresh(), **data)
    assert commands, result.error  # the fresh host was changed, by operations after it
    assert ordered[0] == "Preflight", ordered


@pytest.mark.parametrize("name", NAMES)
def test_a_failed_preflight_changes_nothing_in_any_profile(name):
    offered = {"containerd.io": [PACKAGE_VERSIONS["containerd.io"]]}  # no docker-ce for it
    machine = fresh(index=offered)
    machine.packages = {"docker.io": ("ii", "26.1.5+dfsg1-9+b9")}
    result, ordered, commands = run(name, machine)
    assert result.status == "failed" and "lacks docker-ce" in result.error, result.error
    assert "nothing was changed" in result.error
    assert (ordered, commands) == ([], [])
