"""Controller cost per host stays the same whatever the fleet's size: no callback walks it."""

from __future__ import annotations

import gc
import re

import pytest
from pyinfra.api import State

from provision.docker.deploy import install_docker
from provision.orchestrate import run as runner
from provision.orchestrate.progress import Board

from .fakes import DOCKER_KEY, converged_machine, fresh_machine
from .test_deploy import KEY_URL, run


def fleet_of(count: int) -> dict:
    """``count`` hosts, the first one fresh (it changes), the others converged."""
    fresh = fresh_machine(urls={KEY_URL: DOCKER_KEY})
    return {f"web{i}": (fresh if i == 1 else converged_machine(), {}) for i in range(1, count + 1)}


def order_computations(monkeypatch, count: int) -> tuple[int, int]:
    """Calls of pyinfra's operation order computation in one run on ``count`` hosts, and the
    run's operations (summed over hosts)."""
    calls = []
    original = State.get_op_order

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(State, "get_op_order", counting)
    result, _ = run(fleet_of(count), install_docker)
    assert result.ok, {name: r.error for name, r in result.hosts.items()}
    return len(calls), sum(r.operations for r in result.hosts.values())


def test_the_operation_order_is_computed_a_fixed_number_of_times_per_run(monkeypatch):
    small, small_ops = order_computations(monkeypatch, 2)
    large, large_ops = order_computations(monkeypatch, 6)
    assert large_ops > small_ops >= 2 * 10
    assert large == small <= 3  # pyinfra's run_ops once, the run's plan once, at most once more
    assert large < large_ops  # a per-callback walk would be at least one per host and operation


def steps_of(seen: list[tuple[str, str]], name: str) -> list[tuple[int, int]]:
    """``(step, steps)`` of the progress updates ``seen`` for host ``name``, repeats dropped."""
    steps = [
        (int(m[1]), int(m[2]))
        for who, text in seen
        if who == name and (m := re.search(r" \((\d+)/(\d+)\)$", text))
    ]
    return [step for i, step in enumerate(steps) if not i or step != steps[i - 1]]


def test_progress_names_each_hosts_step_out_of_its_own_operations(monkeypatch):
    seen: list[tuple[str, str]] = []
    result, _ = run(fleet_of(3), progress=lambda *update: seen.append(update))
    fresh = result.hosts.pop("@fake/web1")
    steps = steps_of(seen, "@fake/web1")
    first = steps[0][0]  # the operations before its first change settled: they never start
    assert 1 < first < fresh.operations
    assert steps == [(i, fresh.operations) for i in range(first, fresh.operations + 1)]
    for name, host in result.hosts.items():  # converged: every operation settled
        assert host.operations > 20 and steps_of(seen, name) == []


def test_the_board_does_not_redraw_on_each_update():
    class Counting(Board):
        drawn = 0

        def table(self):
            Counting.drawn += 1
            return super().table()

    board = Counting("provision apply", every=60.0)
    with board:
        for i in range(2000):
            board.set(f"web{i}", "Install Docker packages (11/20)")
    assert len(board.tasks) == 2000
    assert Counting.drawn == 0  # not a terminal: no display; a log line every minute


@pytest.mark.parametrize("dry", [False, True])
def test_a_run_keeps_no_operation_arguments_once_it_no_longer_needs_them(monkeypatch, dry):
    """Each host's operations keep their outcome for the reports, not the generator (and the
    call's arguments it holds) nor the global arguments pyinfra needed to run them."""
    kept = {}
    original = runner._report_changes

    def capture(fleet, planned, results, dry):
        kept.update({host.name: host.state.ops[host] for host in fleet.hosts})
        return original(fleet, planned, results, dry)

    monkeypatch.setattr(runner, "_report_changes", capture)
    result, _ = run(fleet_of(2), dry=dry)
    assert result.ok and result.hosts["@fake/web1"].status == "changed"
    assert result.hosts["@fake/web1"].changes  # the reports still say what changed
    assert kept["@fake/web1"] and not kept["@fake/web2"]  # the converged host's settled
    for ops in kept.values():
        assert all(not data.global_arguments for data in ops.values())
        assert all(list(data.command_generator()) == [] for data in ops.values())


def test_prepared_hosts_are_left_out_of_the_collectors_scans_during_the_run_only():
    frozen = []
    result, _ = run(fleet_of(3), progress=lambda *update: frozen.append(gc.get_freeze_count()))
    assert result.ok
    assert frozen[-1] > 0  # while the operations ran, the prepared hosts were frozen
    assert gc.get_freeze_count() == 0  # and are collected as usual once the run ended


def test_a_prepared_hosts_garbage_is_collected_before_it_is_frozen(monkeypatch):
    """Frozen garbage would stay for the whole run: cycles made while a host was prepared
    (json's encoder makes some) are collected before the freeze."""
    found = []

    class Watching:
        def __getattr__(self, name):
            return getattr(gc, name)

        def freeze(self):
            found.append(gc.collect())  # what a collection now would still find
            gc.freeze()

    monkeypatch.setattr(runner, "gc", Watching())
    result, _ = run(fleet_of(3))
    assert result.ok
    assert found == [0, 0, 0]
