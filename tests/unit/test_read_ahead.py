"""A fleet's snapshots are read ahead: while one host is prepared, the next hosts' first
commands are already on their way. Reading ahead changes when a snapshot is read, never what
a run reads, runs or reports."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyinfra import host
from pyinfra.api import Config, DeployError, Inventory, State
from pyinfra.api.host import Host
from pyinfra.context import ctx_state

from provision.core import snapshot
from provision.core.compat import run_slot
from provision.core.snapshot import Snapshot, reading_ahead
from provision.docker.deploy import install_docker, uninstall_docker
from provision.docker.validation import from_host_data
from provision.orchestrate import run as runner
from provision.orchestrate.inventory import Fleet
from provision.orchestrate.run import run_deploy

from .fakes import converged_machine, fake_responses
from .test_settling import DATA, DRIFTS, drifted, fleet_machines, run, stamped


def in_turn(hosts, deploy):
    """Each host in turn with nothing read ahead: every snapshot is read in its host's turn."""
    return iter(list(hosts))


@pytest.fixture
def one_stamp(monkeypatch):
    monkeypatch.setattr(time, "strftime", stamped)


@pytest.mark.parametrize("dry", [False, True], ids=["apply", "dry-run"])
def test_reading_ahead_reads_runs_and_reports_exactly_what_reading_in_turn_does(
    monkeypatch, one_stamp, dry
):
    machines = {name: (m, {"fake_delay": 0.002}) for name, m in fleet_machines().items()}
    report, commands, given_ops = run(dry, machines)
    monkeypatch.setattr(runner, "reading_ahead", in_turn)
    assert (report, commands, given_ops) == run(dry, machines)  # each read once, as in turn
    snapshots = [
        count
        for _, facts in commands.values()
        for command, count in facts.items()
        if snapshot.MARK in command
    ]
    assert len(snapshots) == len(fleet_machines()) and set(snapshots) == {1}


def converged_fleet(names, delay: float = 0.0) -> Fleet:
    responses = fake_responses(converged_machine(), from_host_data({}))
    data = {"fake_responses": responses, "fake_delay": delay, "fake_delay_jitter": 0}
    hosts = [(f"@fake/{name}", data) for name in names]
    inventory = Inventory((hosts, {}))
    return Fleet("t.py", inventory, list(inventory))


def watched(monkeypatch, events: list[tuple[str, str]]):
    """``install_docker``, with each snapshot read's start and end (``read``, ``answered``)
    and each host's preparation's end (``prepared``) appended to ``events``."""
    original = Host.get_fact

    def get_fact(self, cls, *args, **kwargs):
        if cls is Snapshot:
            events.append(("read", self.name))
            try:
                return original(self, cls, *args, **kwargs)
            finally:
                events.append(("answered", self.name))
        return original(self, cls, *args, **kwargs)

    def deploy():
        install_docker()
        events.append(("prepared", host.name))

    monkeypatch.setattr(Host, "get_fact", get_fact)
    return deploy


def events_of(monkeypatch, fleet: Fleet, **options) -> list[tuple[str, str]]:
    """What a converged fleet's apply (``run_deploy``'s ``options``) did, in order."""
    events: list[tuple[str, str]] = []
    result = run_deploy(fleet, watched(monkeypatch, events), "apply", **options)
    assert {r.status for r in result.hosts.values()} == {"unchanged"}
    return events


def most_in_flight(events: list[tuple[str, str]]) -> int:
    in_flight = most = 0
    for kind, _ in events:
        in_flight += {"read": 1, "answered": -1}.get(kind, 0)
        most = max(most, in_flight)
    return most


def test_the_next_hosts_snapshots_are_read_while_the_first_is_prepared(monkeypatch):
    names = [f"web{i}" for i in range(5)]
    fleet = converged_fleet(names, delay=0.01)
    events = events_of(monkeypatch, fleet)
    first_prepared = events.index(("prepared", events[0][1]))
    assert {event for event in events[:first_prepared] if event[0] == "read"} == {
        ("read", f"@fake/{name}") for name in names
    }
    assert most_in_flight(events) == len(names)  # side by side, not one after another
    assert all(not each.in_deploy and each.current_deploy_name is None for each in fleet.hosts)
    assert sorted(host for kind, host in events if kind == "read") == [
        f"@fake/{name}" for name in names
    ]  # each once: in its turn, the host takes the answer read ahead


@pytest.mark.parametrize("parallel", [1, 3])
def test_no_more_snapshots_are_read_at_once_than_the_run_is_parallel(monkeypatch, parallel):
    names = [f"web{i}" for i in range(6)]
    events = events_of(monkeypatch, converged_fleet(names, delay=0.01), parallel=parallel)
    prepared = [name for kind, name in events if kind == "prepared"]
    assert len(prepared) == len(names)
    for turn, name in enumerate(prepared):
        done_by = events.index(("prepared", name))
        read = [h for kind, h in events[:done_by] if kind == "read"]
        assert read == [h for h in read if prepared.index(h) < turn + parallel]
    assert most_in_flight(events) == parallel


def reload_only():
    """An operation that reads no fact."""
    from provision.docker import operations as ops

    ops.systemd_reloaded(name="Reload systemd units", after=[])


@pytest.mark.parametrize("deploy", [uninstall_docker, reload_only], ids=["uninstall", "reload"])
def test_a_deploy_that_acts_before_it_reads_is_prepared_as_in_turn(monkeypatch, deploy):
    """Neither reads a snapshot: planning stops at the first operation (or at its first fact),
    which is declared once, in the host's turn."""
    reports = []
    for reading in (reading_ahead, in_turn):
        monkeypatch.setattr(runner, "reading_ahead", reading)
        report = run_deploy(converged_fleet(["web1", "web2"]), deploy, "apply", dry=True).as_dict()
        report.pop("duration_s")
        for each in report["hosts"].values():
            each.pop("duration_s")
        reports.append(report)
    assert reports[0] == reports[1]
    assert all(each["operations"] >= 1 for each in reports[0]["hosts"].values())


def test_a_deploy_declaring_a_plain_pyinfra_operation_is_refused():
    from pyinfra.operations import server

    def deploy():
        server.shell(name="Not recorded", commands=["true"])

    with pytest.raises(RuntimeError, match="@fake/web1: the deploy declared a pyinfra operation"):
        run_deploy(converged_fleet(["web1"]), deploy, "apply")


def test_a_read_that_fails_fails_its_host_in_its_own_turn(monkeypatch):
    original = Host.get_fact

    def get_fact(self, cls, *args, **kwargs):
        if cls is Snapshot and self.name == "@fake/web2":
            raise DeployError(f"{self.name}: the snapshot could not be read.")
        return original(self, cls, *args, **kwargs)

    monkeypatch.setattr(Host, "get_fact", get_fact)
    results = []
    for reading in (reading_ahead, in_turn):
        monkeypatch.setattr(runner, "reading_ahead", reading)
        result = run_deploy(converged_fleet(["web1", "web2", "web3"]), install_docker, "apply")
        results.append({name: (r.status, r.error) for name, r in result.hosts.items()})
    assert results[0] == results[1]
    assert results[0]["@fake/web2"] == ("failed", "@fake/web2: the snapshot could not be read.")
    assert results[0]["@fake/web1"] == ("unchanged", None)


def test_reads_nobody_takes_are_stopped_when_the_run_ends_early():
    fleet = converged_fleet([f"web{i}" for i in range(4)], delay=5)
    state = State(check_for_changes=True)
    state.init(fleet.inventory, Config())
    with ctx_state.use(state):
        turns = reading_ahead(fleet.inventory, install_docker, 3)
        next(turns)  # the first host's turn: it and the next two are being read
        slots = [run_slot(host) for host in fleet.inventory]
        reads = [slot["ahead"][2] for slot in slots if "ahead" in slot]
        assert len(reads) == 3 and not any(read.dead for read in reads)
        turns.close()
    assert all(read.dead for read in reads)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    hosts=st.lists(
        st.tuples(
            st.sets(st.sampled_from(sorted(DRIFTS))),
            st.sampled_from(range(len(DATA))),
            st.sampled_from([0, 0.001, 0.004]),
        ),
        min_size=2,
        max_size=4,
    ),
    dry=st.booleans(),
)
def test_any_fleet_reads_runs_and_reports_the_same_ahead_or_in_turn(hosts, dry):
    """Answers that come back in any order: the run is the same as one that reads in turn."""
    outcomes = []
    for reading in (reading_ahead, in_turn):
        machines = {}
        for i, (drifts, data, delay) in enumerate(hosts):
            machine = drifted(*(DRIFTS[name] for name in sorted(drifts)))
            machines[f"web{i}"] = (machine, {**DATA[data], "fake_delay": delay})
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, "strftime", stamped)
            patch.setattr(runner, "reading_ahead", reading)
            outcomes.append(run(dry, machines))
    assert outcomes[0] == outcomes[1]
