"""docker_hardening's daemon options and docker_audit_rules' auditd rules, as the deploy
writes them; waivers as settings."""

from __future__ import annotations

import json

import pytest

from provision.audit.state import _watched, canonical
from provision.core.errors import SettingsError
from provision.docker.daemon import daemon_config
from provision.docker.deploy import uninstall_docker
from provision.docker.hardening import HARDENED_OPTIONS, WATCHED, audit_rules
from provision.docker.layout import AUDIT_RULES, DAEMON_JSON
from provision.docker.settings import DockerSettings
from provision.docker.validation import from_host_data

from .fakes import DOCKER_KEY, converged_machine, fresh_machine
from .test_deploy import KEY_URL, index, run_one, written_to


def test_hardening_sets_the_benchmarks_daemon_options_and_options_win():
    assert daemon_config(DockerSettings(), "27.5.1").keys().isdisjoint(HARDENED_OPTIONS)
    hardened = daemon_config(DockerSettings(docker_hardening=True), "27.5.1")
    assert {k: hardened[k] for k in HARDENED_OPTIONS} == {
        "no-new-privileges": True,
        "live-restore": True,
        "userland-proxy": False,
    }
    mine = DockerSettings(docker_hardening=True, docker_daemon_options={"userland-proxy": True})
    assert daemon_config(mine, "27.5.1")["userland-proxy"] is True


def test_audit_rules_only_when_asked_and_they_watch_the_data_root():
    assert audit_rules(DockerSettings(docker_hardening=True)) is None
    rules = audit_rules(DockerSettings(docker_audit_rules=True, docker_data_root="/srv/docker"))
    watched = _watched(rules)
    assert "/srv/docker" in watched and "/var/lib/docker" not in watched
    assert len(watched) == len(WATCHED)
    assert all(line.endswith("-p rwxa -k docker") for line in rules.splitlines()[1:])
    assert all(canonical(path) == path for path in watched)  # as the audit compares them


def test_a_fresh_host_with_audit_rules_gets_auditd_then_the_rules():
    _, commands = run_one(
        fresh_machine(urls={KEY_URL: DOCKER_KEY}), docker_audit_rules=True, docker_hardening=True
    )
    install = index(commands, r"apt-get .* install --no-install-recommends auditd$")
    assert index(commands, rf"mv -f \S+ {AUDIT_RULES}$") > install
    assert written_to(commands, AUDIT_RULES).decode() == audit_rules(
        DockerSettings(docker_audit_rules=True)
    )
    assert commands[index(commands, "augenrules")] == (
        "if systemctl is-active --quiet auditd; then augenrules --load; fi"
    )
    config = json.loads(written_to(commands, DAEMON_JSON))
    assert config["live-restore"] is True


def test_without_audit_rules_nothing_of_auditd_is_touched():
    result, commands = run_one(converged_machine())
    assert (result.status, commands) == ("unchanged", [])
    machine = converged_machine()
    machine.files[AUDIT_RULES] = ("640", "root:root", b"-w /usr/bin/dockerd -k docker\n")
    _, commands = run_one(machine)
    # asked no more: the rules go (and out of the kernel where auditd runs); auditd stays
    assert commands == [
        f"rm -f {AUDIT_RULES}",
        "if systemctl is-active --quiet auditd; then augenrules --load; fi",
    ]


@pytest.mark.parametrize(
    "waivers",
    [{"2.9": ""}, {"two": "reason"}, ["2.9"], {"2.9": 1}, {"2.9; rm -rf /": "x"}],
    ids=["no reason", "not a number", "a list", "not text", "hostile"],
)
def test_waivers_must_name_check_numbers_with_reasons(waivers):
    with pytest.raises(SettingsError, match="web1: docker_audit_waivers must map benchmark"):
        from_host_data({"docker_audit_waivers": waivers}, "web1")


def test_waivers_and_the_switches_are_settings():
    settings = from_host_data(
        {
            "docker_audit_waivers": {"2.9": "images need root"},
            "docker_hardening": True,
            "docker_audit_rules": False,
        }
    )
    assert settings.docker_audit_waivers == {"2.9": "images need root"}
    with pytest.raises(SettingsError, match="docker_hardening must be true or false"):
        from_host_data({"docker_hardening": "yes"})


def test_uninstall_removes_the_audit_rules_but_not_auditd():
    machine = converged_machine()
    machine.files[AUDIT_RULES] = ("640", "root:root", b"-w /usr/bin/dockerd -k docker\n")
    _, commands = run_one(machine, deploy=uninstall_docker)
    assert commands[-2:] == [
        f"rm -f {AUDIT_RULES}",
        "if systemctl is-active --quiet auditd; then augenrules --load; fi",
    ]
    assert not any("auditd" in c and "remove" in c for c in commands)
