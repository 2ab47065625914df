"""Operations found converged before the run settle and are never given to pyinfra: the
reports, dry runs and commands of a settled run are exactly those of pyinfra running every
operation, and a converged host costs pyinfra no operation at all."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyinfra.api import Inventory

from provision.core.compat import operation_metas, run_slot
from provision.core.recording import calls
from provision.docker.deploy import DAEMON_JSON, KEYRING, PROXY_DROPIN, install_docker
from provision.docker.validation import from_host_data
from provision.orchestrate import run as runner
from provision.orchestrate.inventory import Fleet
from provision.orchestrate.run import run_deploy

from .fakes import (
    DOCKER_KEY,
    converged_machine,
    fake_responses,
    fresh_machine,
    is_fact_command,
    synthetic_key,
)

KEY_URL = "https://download.docker.com/linux/debian/gpg"
DRIFTS = {  # one change each to a converged host, as ``drifted`` takes them
    "stale-path": {"paths": {"/etc/apt/keyrings/docker.gpg"}},
    "other-key": {"files": {KEYRING: ("644", "root:root", synthetic_key(b"not docker's"))}},
    "key-mode": {"files": {KEYRING: ("600", "root:root", DOCKER_KEY)}},
    "own-daemon-json": {"files": {DAEMON_JSON: ("644", "root:root", b'{"debug":true}')}},
    "stopped": {"services": {"docker": ("inactive", "enabled")}},
    "docker.io": {"packages": {"docker.io": ("ii", "26.1.5+dfsg1-9+b9")}},
    "no-group": {"group": None},
}
DATA = [{}, {"docker_users": ["alice"]}, {"docker_live_restore": True}, {"docker_hold": True}]


def stamped(fmt: str, t=None) -> str:
    """``time.strftime`` with one takeover stamp, the same in both runs of a comparison."""
    return "20261207T000000Z" if "T" in fmt else REAL_STRFTIME(fmt, *(() if t is None else (t,)))


REAL_STRFTIME = time.strftime


def drifted(*changes: dict) -> object:
    """A converged host with each of ``changes`` made to its files, paths, packages, services
    or group, in turn."""
    machine = converged_machine()
    for change in changes:
        for name, value in change.items():
            current = getattr(machine, name)
            setattr(machine, name, {**current, **value} if isinstance(current, dict) else value)
    return machine


def fleet_machines() -> dict:
    """One host of each kind: the first change of each comes at another operation."""
    return {
        "fresh": fresh_machine(urls={KEY_URL: DOCKER_KEY}),
        "converged": converged_machine(),
        **{name: drifted(changes) for name, changes in DRIFTS.items()},
    }


def run(dry: bool, machines: dict | None = None) -> tuple[dict, dict, dict]:
    """The fleet's report, each host's commands (operations' in order, facts' counted) and
    the operations pyinfra was given per host; ``machines``: ``{name: (machine, host data)}``
    (default: ``fleet_machines``); the fake connector answers at once unless the host data
    sets ``fake_delay``."""
    machines = machines or {name: (m, {}) for name, m in fleet_machines().items()}
    hosts = [
        (
            f"@fake/{name}",
            {
                "fake_delay": 0,
                "fake_delay_jitter": 0,
                **data,
                "fake_responses": fake_responses(machine, from_host_data(data)),
            },
        )
        for name, (machine, data) in machines.items()
    ]
    inventory = Inventory((hosts, {}))
    result = run_deploy(Fleet("t.py", inventory, list(inventory)), install_docker, "apply", dry=dry)
    report = result.as_dict()
    report.pop("duration_s")
    for host in report["hosts"].values():
        host.pop("duration_s")
    commands, given = {}, {}
    for host in inventory:
        executed = host.connector.executed_commands
        commands[host.name] = (
            [c for c in executed if not is_fact_command(c)],
            Counter(c for c in executed if is_fact_command(c)),
        )
        given[host.name] = len(operation_metas(host.state, host))
    return report, commands, given


def not_settling(host):
    return contextlib.nullcontext()


@pytest.fixture
def one_stamp(monkeypatch):
    """The same takeover stamp for both runs of a comparison."""
    monkeypatch.setattr(time, "strftime", stamped)


@pytest.mark.parametrize("dry", [False, True], ids=["apply", "dry-run"])
def test_a_settled_run_reports_and_runs_exactly_what_pyinfra_would(monkeypatch, one_stamp, dry):
    report, commands, given = run(dry)
    monkeypatch.setattr(runner, "settling", not_settling)
    plain_report, plain_commands, plain_given = run(dry)

    assert report == plain_report
    assert commands == plain_commands  # each fact read once: none again for a settled call
    statuses = {name: host["status"] for name, host in report["hosts"].items()}
    assert statuses == {
        "@fake/converged": "unchanged",
        **{f"@fake/{name}": "changed" for name in fleet_machines() if name != "converged"},
    }
    # pyinfra got every operation without settling, none for the converged host, and for the
    # others only those from their first change on
    operations = {name: host["operations"] for name, host in report["hosts"].items()}
    assert plain_given == operations
    assert given["@fake/converged"] == 0
    for name, count in given.items():
        assert count < operations[name], name


def test_a_settled_call_keeps_only_its_name_and_a_converged_host_its_facts_not():
    machine = converged_machine()
    data = {"fake_responses": fake_responses(machine), "fake_delay": 0, "fake_delay_jitter": 0}
    inventory = Inventory(([("@fake/web1", data)], {}))
    result = run_deploy(Fleet("t.py", inventory, list(inventory)), install_docker, "apply")
    assert result.hosts["@fake/web1"].status == "unchanged"
    host = inventory.get_host("@fake/web1")
    recorded = calls(host.state, host.name)
    assert len(recorded) == result.hosts["@fake/web1"].operations > 20
    assert all(call.kwargs == {"name": call.name} for call in recorded)
    assert all(call.meta.is_complete() and not call.meta.did_change() for call in recorded)
    assert "snapshot" not in run_slot(host) and "last" not in run_slot(host)


def test_a_call_with_pyinfras_own_arguments_is_left_to_pyinfra():
    from provision.docker import operations as ops

    machine = converged_machine()
    data = {"fake_responses": fake_responses(machine), "fake_delay": 0, "fake_delay_jitter": 0}
    inventory = Inventory(([("@fake/web1", data)], {}))

    def deploy():
        ops.file_absent(name="Nothing to remove", path=PROXY_DROPIN)
        ops.file_absent(name="Nothing, as root", path=PROXY_DROPIN, _sudo=True)

    result = run_deploy(Fleet("t.py", inventory, list(inventory)), deploy, "apply")
    host = inventory.get_host("@fake/web1")
    assert result.hosts["@fake/web1"].status == "unchanged"
    assert result.hosts["@fake/web1"].operations == 2
    assert len(operation_metas(host.state, host)) == 1  # the second


def test_machines_are_what_they_say():
    """Each drifted machine differs from the converged one in what its name says only."""
    base = dataclasses.asdict(converged_machine())
    for name, machine in fleet_machines().items():
        if name in ("fresh", "converged"):
            continue
        differs = {key for key, value in dataclasses.asdict(machine).items() if base[key] != value}
        assert len(differs) == 1, (name, differs)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    hosts=st.lists(
        st.tuples(st.sets(st.sampled_from(sorted(DRIFTS))), st.sampled_from(range(len(DATA)))),
        min_size=1,
        max_size=3,
    ),
    dry=st.booleans(),
)
def test_any_fleet_reports_and_runs_the_same_settled_or_not(hosts, dry):
    """Hosts with any set of drifts and settings: settling changes nothing but the operations
    pyinfra is given."""
    machines = {}
    for i, (drifts, data) in enumerate(hosts):
        machine = drifted(*(DRIFTS[name] for name in sorted(drifts)))
        machines[f"web{i}"] = (machine, DATA[data])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "strftime", stamped)
        settled = run(dry, machines)
        patch.setattr(runner, "settling", not_settling)
        plain = run(dry, machines)
    assert settled[:2] == plain[:2]
    assert all(settled[2][name] <= plain[2][name] for name in plain[2])
