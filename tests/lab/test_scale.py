"""Controller cost over real SSH: a run's operation order is computed a fixed number of times
whatever the fleet's size, a converged host gives pyinfra no operation, each host's progress
counts its own steps, the hosts' snapshots are read side by side, and verification reads every
host's checks from one pass over the results."""

from __future__ import annotations

from pyinfra.api import State

from provision.core.compat import operation_metas
from provision.docker.deploy import install_docker
from provision.orchestrate.run import run_deploy
from tests.unit.test_read_ahead import watched
from tests.unit.test_scale import steps_of

from .conftest import check, fleet


def counted_run(monkeypatch, *hosts: str):
    """An apply on ``hosts``: its result, its order computations, its progress updates and
    the operations pyinfra was given per host."""
    calls, seen = [], []
    original = State.get_op_order

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(State, "get_op_order", counting)
    progress = lambda *update: seen.append(update)  # noqa: E731
    chosen = fleet(*hosts)
    result = run_deploy(chosen, install_docker, "apply", progress=progress)
    monkeypatch.undo()
    given = {host.name: len(operation_metas(host.state, host)) for host in chosen.hosts}
    return result, len(calls), seen, given


def test_runs_on_one_and_two_hosts_compute_the_operation_order_as_often(lab, monkeypatch):
    first, _, seen, given = counted_run(monkeypatch, "lab1", "lab2")  # cold if they are fresh
    assert first.ok, {name: r.error for name, r in first.hosts.items()}
    for name, host in first.hosts.items():  # steps from the first change to the last
        steps = steps_of(seen, name)
        start = host.operations - given[name] + 1  # the operations before it settled
        assert steps == [(i, host.operations) for i in range(start, host.operations + 1)]
        assert (host.status == "changed") == bool(steps), (name, host.status, steps)
    one, one_calls, _, _ = counted_run(monkeypatch, "lab1")
    two, two_calls, seen, given = counted_run(monkeypatch, "lab1", "lab2")
    assert one.ok and two.ok
    assert {r.status for r in two.hosts.values()} == {"unchanged"}
    operations = sum(r.operations for r in two.hosts.values())
    assert one_calls == two_calls <= 3 < operations
    for name, host in two.hosts.items():  # converged: every operation settled, none ran
        assert host.operations > 20 and given[name] == 0 and steps_of(seen, name) == []
    verified = check("lab1", "lab2")
    assert verified.ok, verified.as_dict()["hosts"]
    lab1, lab2 = (verified.hosts[name].checks for name in ("lab1", "lab2"))
    assert lab1 and [c.id for c in lab1] == [c.id for c in lab2]


def test_the_hosts_snapshots_are_read_side_by_side_over_ssh(lab, monkeypatch):
    """The second host's first command is on its way before the first host is prepared, and
    each host's snapshot is read once: in its turn, the host takes the answer read ahead."""
    events: list[tuple[str, str]] = []
    deploy = watched(monkeypatch, events)
    result = run_deploy(fleet("lab1", "lab2"), deploy, "apply")
    monkeypatch.undo()
    assert result.ok, {name: r.error for name, r in result.hosts.items()}
    first = [name for kind, name in events if kind == "prepared"][0]
    before = events[: events.index(("prepared", first))]
    assert sorted(name for kind, name in before if kind == "read") == ["lab1", "lab2"]
    assert [kind for kind, _ in events[:2]] == ["read", "read"]  # both in flight at once
    assert sorted(name for kind, name in events if kind == "read") == ["lab1", "lab2"]
