"""One command for every fact of an unchanged host, and fresh facts once something changed."""

from __future__ import annotations

import subprocess

from pyinfra.api import Config, Inventory, State
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import StateOperationHostData
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host, ctx_state

from provision.docker.facts import FileContent, Packages, Paths, ServiceState
from provision.docker.snapshot import Snapshot, plan, prefetch, read

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
            lines = ["Id=nothing-here.service", "ActiveState=inactive", "UnitFileState=disabled"]
            return {0: ["/etc/hosts"], 1: [], 2: lines}
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


JOINT = [
    (Packages, {"packages": ["a", "b"]}),
    (ServiceState, {"units": ["containerd"]}),
    (Packages, {"packages": ["b", "c"]}),
    (FileContent, {"path": "/x"}),
    (ServiceState, {"units": ["docker", "containerd"]}),
    (FileContent, {"path": "/x"}),
]


def test_a_snapshot_reads_each_merged_class_once():
    assert plan(JOINT) == [
        (Packages, {"packages": ["a", "b", "c"]}),
        (ServiceState, {"units": ["containerd", "docker"]}),
        (FileContent, {"path": "/x"}),
    ]
    assert JOINT[0] == (Packages, {"packages": ["a", "b"]})  # the queries are not changed


def test_each_read_gets_only_what_it_asked_for_from_a_joint_read():
    state, host = _host()
    sections = {
        0: ["a ii 1.0", "c ii 3.0", "DPKG-INTERRUPTED"],  # b is not installed
        1: ["Id=containerd.service", "ActiveState=active", "UnitFileState=enabled"],
        2: [],
    }
    asked = []

    def get_fact(cls, **kwargs):
        asked.append((cls.__name__, kwargs))
        return sections if cls is Snapshot else None

    host.get_fact = get_fact
    with ctx_state.use(state), ctx_host.use(host):
        prefetch(JOINT)
        first = read(Packages, packages=["a", "b"])
        assert set(first) == {None, "a"} and first[None] is True
        assert set(read(Packages, packages=["b", "c"])) == {None, "c"}
        assert read(ServiceState, units=["docker", "containerd"]) == {
            "docker": ("unknown", "unknown"),  # systemctl said nothing of it
            "containerd": ("active", "enabled"),
        }
    assert asked == [("Snapshot", {"queries": plan(JOINT)})]
