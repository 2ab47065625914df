"""Fixtures of the unit tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.context import ctx_host, ctx_state

from provision.core.compat import inner

from .fakes import Commands, FakeMachine, fake_hosts_run_refusals, refusal_of  # noqa: F401


@dataclass
class OpRun:
    commands: list[str]
    noops: list[str]
    refusal: str | None


@pytest.fixture
def run_op(monkeypatch):
    """Run an operation's generator on a one-host pyinfra state with a ``FakeMachine``'s facts."""

    def run(op, machine: FakeMachine, host_name: str = "web1", **kwargs) -> OpRun:
        inventory = Inventory(([host_name], {}))
        state = State(inventory, Config())
        host = inventory.get_host(host_name)
        noops: list[str] = []
        host.get_fact = machine.fact
        host.noop = noops.append
        with ctx_state.use(state), ctx_host.use(host):
            commands = Commands(inner(op)(**kwargs))
        return OpRun(commands, noops, refusal_of(commands))

    return run
