"""One command for every fact of an unchanged host, and fresh facts once something changed."""

from __future__ import annotations

import subprocess

from pyinfra.api import Config, Inventory, State
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import StateOperationHostData
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host, ctx_state

from provision.docker.facts import FileContent, Paths, ServiceState
from provision.docker.snapshot import Snapshot, prefetch, read

QUERIES = [
    (Paths, {"patterns": ["/nonexistent-a*", "/etc/host*"]}),
    (FileContent, {"path": "/nonexistent-file"}),
    (ServiceState, {"units": ["nothing-here"]}),
]


def test_the_snapshot_command_runs_every_fact_and_splits_back():
    command = Snapshot().command(QUERIES)
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout
    sections = Snapshot().process(output.splitlines())
    assert sorted(sections) == [0, 1, 2]
    assert "/etc/hosts" in Paths().process(sections[0])
    assert sections[1] == []  # the file does not exist: FileContent prints nothing


def test_output_without_markers_is_not_a_snapshot():
    assert Snapshot().process(["something else"]) is None


def _host():
    inventory = Inventory((["web1"], {}))
    state = State(inventory, Config())
    return state, inventory.get_host("web1")


def _run_op(state, host, op_hash: str, changed: bool) -> None:
    """Record a finished operation on ``host`` as pyinfra's executor does."""
    meta = OperationMeta(op_hash, changed)
    meta.set_complete(True, ["command"] if changed else [], CommandOutput([]))
    state.ops.setdefault(host, {})[op_hash] = StateOperationHostData(lambda: iter(()), {}, meta)
    host.op_hash_order.append(op_hash)


def test_read_answers_from_the_snapshot_until_something_changed():
    state, host = _host()
    asked = []

    def get_fact(cls, **kwargs):
        asked.append(cls.__name__)
        if cls is Snapshot:
            return {0: ["/etc/hosts"], 1: [], 2: ["nothing-here inactive disabled"]}
        return ["fresh"]

    host.get_fact = get_fact
    with ctx_state.use(state), ctx_host.use(host):
        prefetch(QUERIES)
        assert read(Paths, patterns=QUERIES[0][1]["patterns"]) == ["/etc/hosts"]
        assert read(FileContent, path="/nonexistent-file") is None
        assert read(ServiceState, units=["nothing-here"]) == {
            "nothing-here": ("inactive", "disabled")
        }
        _run_op(state, host, "unchanged-op", changed=False)
        assert read(Paths, patterns=QUERIES[0][1]["patterns"]) == ["/etc/hosts"]
        assert asked == ["Snapshot"]
        _run_op(state, host, "changing-op", changed=True)
        assert read(Paths, patterns=QUERIES[0][1]["patterns"]) == ["fresh"]
        assert asked == ["Snapshot", "Paths"]


def test_facts_outside_the_snapshot_are_read_directly():
    state, host = _host()
    host.get_fact = lambda cls, **kwargs: None if cls is Snapshot else ["direct"]
    with ctx_state.use(state), ctx_host.use(host):
        prefetch(QUERIES)  # no snapshot came back
        assert read(Paths, patterns=["/x"]) == ["direct"]
