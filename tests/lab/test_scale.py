"""Controller cost over real SSH: a run's operation order is computed a fixed number of times
whatever the fleet's size, each host's progress counts its own steps, and verification reads
every host's checks from one pass over the results."""

from __future__ import annotations

from pyinfra.api import State

from provision.docker.deploy import install_docker
from provision.orchestrate.run import run_deploy
from tests.unit.test_scale import steps_of

from .conftest import apply, check, fleet


def counted_run(monkeypatch, *hosts: str):
    """An apply on ``hosts``: its result, its order computations and its progress updates."""
    calls, seen = [], []
    original = State.get_op_order

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(State, "get_op_order", counting)
    progress = lambda *update: seen.append(update)  # noqa: E731
    result = run_deploy(fleet(*hosts), install_docker, "apply", progress=progress)
    monkeypatch.undo()
    return result, len(calls), seen


def test_runs_on_one_and_two_hosts_compute_the_operation_order_as_often(lab, monkeypatch):
    converged = apply("lab1", "lab2")  # cold on fresh hosts
    assert converged.ok, {name: r.error for name, r in converged.hosts.items()}
    one, one_calls, _ = counted_run(monkeypatch, "lab1")
    two, two_calls, seen = counted_run(monkeypatch, "lab1", "lab2")
    assert one.ok and two.ok
    assert {r.status for r in two.hosts.values()} == {"unchanged"}
    operations = sum(r.operations for r in two.hosts.values())
    assert one_calls == two_calls <= 3 < operations
    for name, host in two.hosts.items():
        assert steps_of(seen, name) == [(i, host.operations) for i in range(1, host.operations + 1)]
    verified = check("lab1", "lab2")
    assert verified.ok, verified.as_dict()["hosts"]
    lab1, lab2 = (verified.hosts[name].checks for name in ("lab1", "lab2"))
    assert lab1 and [c.id for c in lab1] == [c.id for c in lab2]
