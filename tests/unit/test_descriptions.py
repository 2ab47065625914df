"""Every operation says what it changes: each deploy (install, uninstall, every profile, rootless
users) walked on fake hosts where its operations change, and each changed operation's report."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest
from pyinfra.api import Inventory

import provision
from provision import profiles
from provision.docker.deploy import DAEMON_JSON, KEYRING, PROXY_DROPIN, SOURCES, uninstall_docker
from provision.docker.rootless_layout import USER_UNIT
from provision.docker.validation import from_host_data
from provision.orchestrate.inventory import Fleet
from provision.orchestrate.run import run_deploy
from provision.profiles.ci_runner.deploy import runner_queries
from provision.profiles.ci_runner.settings import runner_settings

from .fakes import DOCKER_KEY, FakeMachine, converged_machine, fake_responses, fresh_machine

ALICE_RUNNING = {"alice": (1001, True, "active", "enabled")}
ROOTLESS = {"docker_rootless_users": ["alice"]}
RUNNER = {"provision_profile": "ci-runner", "ci_runner_user": "runner"}


def fresh() -> FakeMachine:
    return fresh_machine(urls=converged_machine().urls, users={"root", "alice", "bob"})


def drifted() -> FakeMachine:
    """A converged host whose key, sources and daemon.json were edited by hand, whose proxy
    drop-in is stale and whose rootless user has stopped their daemon."""
    machine = converged_machine()
    machine.users = {"root", "alice"}
    machine.files[KEYRING] = ("600", "root:root", DOCKER_KEY)
    sources = machine.files[SOURCES][2].replace(b"bookworm", b"bullseye")
    machine.files[SOURCES] = ("666", "root:root", sources)
    machine.files[DAEMON_JSON] = ("644", "root:root", b'{"debug": true}\n')
    machine.files[PROXY_DROPIN] = ("644", "root:root", b"[Service]\n")
    machine.rootless = {"alice": (1001, False, "inactive", "disabled")}
    return machine


def in_use() -> FakeMachine:
    """A converged host with a rootless user's daemon running, its unit and a proxy drop-in."""
    machine = converged_machine()
    machine.users = {"root", "alice"}
    machine.rootless = dict(ALICE_RUNNING)
    machine.files[USER_UNIT] = ("644", "root:root", b"[Unit]\n")
    machine.files[PROXY_DROPIN] = ("644", "root:root", b"[Service]\n")
    return machine


DEPLOYS = {
    "install-fresh-rootless": (
        "docker",
        fresh,
        {**ROOTLESS, "docker_users": ["bob"], "docker_daemon_options": {"debug": True}},
    ),
    "install-drifted-rootless": ("docker", drifted, ROOTLESS),
    "install-hardened": ("docker", fresh, {"docker_hardening": True, "docker_audit_rules": True}),
    "ci-runner-fresh": ("ci-runner", fresh, RUNNER),
    "ci-runner-rootless": ("ci-runner", fresh, {**RUNNER, **ROOTLESS}),
    "uninstall-rootless-purge": ("uninstall", in_use, {**ROOTLESS, "docker_purge_data": True}),
}


def dry_run(kind: str, machine: FakeMachine, data: dict):
    """The dry run of the deploy ``kind`` on one fake host: its ``HostResult``."""
    docker = from_host_data({k: v for k, v in data.items() if not k.startswith("ci_")})
    extra: list = []
    if kind == "ci-runner":
        runner = runner_settings(data)
        docker = dataclasses.replace(docker, docker_users=(*docker.docker_users, "runner"))
        extra = runner_queries(runner)
    deploy = uninstall_docker if kind == "uninstall" else profiles.profile(kind).deploy
    responses = fake_responses(machine, docker, extra)
    data = {**data, "fake_responses": responses, "fake_delay": 0, "fake_delay_jitter": 0}
    inventory = Inventory(([("@fake/web1", data)], {}))
    fleet = Fleet("t.py", inventory, list(inventory))
    return run_deploy(fleet, deploy, "apply", dry=True).hosts["@fake/web1"]


@pytest.mark.parametrize("case", DEPLOYS)
def test_every_operation_that_would_change_says_what_it_changes(case):
    kind, machine, data = DEPLOYS[case]
    host = dry_run(kind, machine(), data)
    assert host.status == "changed", host.error
    reported = [change["operation"] for change in host.changes]
    assert reported == host.changed  # no changed operation is missing from the report
    undescribed = [c["operation"] for c in host.changes if c["changes"] == ["changed"]]
    assert not undescribed, f"operations without a description of their change: {undescribed}"


def test_rootless_operations_are_in_the_reports():
    install = dry_run("docker", fresh(), ROOTLESS)
    changes = {change["operation"]: change["changes"] for change in install.changes}
    assert changes["Subordinate ids for rootless Docker"] == [
        "add id ranges for alice to /etc/subuid",
        "add id ranges for alice to /etc/subgid",
    ]
    assert changes["Rootless Docker services"] == [
        "let alice's services run without a login (enable-linger)",
        "enable alice's rootless Docker",
        "start alice's rootless Docker",
    ]
    removal = dry_run("uninstall", in_use(), ROOTLESS)
    changes = {change["operation"]: change["changes"] for change in removal.changes}
    assert changes["Stop rootless Docker services"] == ["stop and disable alice's rootless Docker"]


def declared_operations():
    """Every pyinfra operation the package declares, by module and name."""
    for module in pkgutil.walk_packages(provision.__path__, "provision."):
        if module.name.endswith("__main__") or ".verify.test_" in module.name:
            continue
        found = importlib.import_module(module.name)
        for name, value in vars(found).items():
            if hasattr(value, "_inner") and not hasattr(value, "deploy_name"):
                if value.__module__ == module.name:
                    yield f"{module.name}.{name}", value


def test_every_operation_is_declared_with_its_description():
    operations = dict(declared_operations())
    assert "provision.docker.rootless.user_services" in operations
    assert "provision.profiles.ci_runner.deploy.buildx_builder" in operations
    plain = [name for name, op in operations.items() if not callable(getattr(op, "describe", 0))]
    assert not plain, f"declare these with provision.core.recording.operation: {plain}"
