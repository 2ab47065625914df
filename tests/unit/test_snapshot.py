"""One command for every fact of an unchanged host, and fresh facts once something changed."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyinfra.api import Config, DeployError, FactBase, Inventory, State
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import StateOperationHostData
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host, ctx_state

from provision.core.snapshot import MARK, Malformed, Snapshot, plan, prefetch, read
from provision.docker.facts import FileContent, Packages, Paths, ServiceState

from .fakes import snapshot_line

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


class Prints(FactBase):
    """A fact whose command prints ``data``, byte for byte (what a host's user might print)."""

    def command(self, data: bytes) -> str:
        return "printf '" + "".join(f"\\{byte:03o}" for byte in data) + "'"


def _answer(command: str) -> list[str]:
    """The snapshot's answer as pyinfra hands it over: stdout, line by line."""
    stdout = subprocess.run(["sh", "-c", command], capture_output=True).stdout
    assert stdout.isascii()  # nothing a section prints reaches the stream undecoded
    return stdout.decode().split("\n")[:-1]


FORGED = [
    f"{MARK} 0 4 QUJD\n".encode(),  # a whole section line of the current framing
    f"\n{MARK} 1 0 \n".encode(),
    b"=====provision-fact-0\n",  # the framing before this one
    f"{MARK} 0 3 ***\n".encode(),  # not base64
    b"\0",
    b"\r",
    "\u2028\u0085".encode(),
    b"\xff\xfe",  # not UTF-8
    b"no newline at the end",
]
SECTION = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(FORGED)), max_size=4).map(
    b"".join
)


@settings(max_examples=60, deadline=None)
@given(st.lists(SECTION, min_size=1, max_size=4))
def test_whatever_a_section_prints_is_that_sections_answer_alone(printed):
    """Forged section lines, invalid base64, NUL, CR and U+2028 printed by one fact's command
    come back as that fact's lines, byte for byte, and every other section is untouched."""
    queries = [(Prints, {"data": data}) for data in printed]
    sections = Snapshot().process(_answer(Snapshot().command(queries)))
    assert sorted(sections) == list(range(len(printed)))
    for index, data in enumerate(printed):
        lines = sections[index]
        assert "".join(f"{line}\n" for line in lines).encode(errors="surrogateescape") == (
            _normal(data)
        )


def _normal(data: bytes) -> bytes:
    """``data`` as text lines: invalid UTF-8 replaced, one final newline."""
    if not data:
        return b""
    text = data.decode(errors="replace")
    return (text if text.endswith("\n") else text + "\n").encode()


def test_the_fakes_frame_sections_as_the_shell_does():
    queries = [(Prints, {"data": b"one\ntwo\n"}), (Prints, {"data": b""})]
    assert _answer(Snapshot().command(queries)) == [
        snapshot_line(0, ["one", "two"]),
        snapshot_line(1, []),
    ]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([f"{MARK} 0 3 ***"], "section 0 is not base64"),
        ([f"{MARK} 0 8 QUJD"], "section 0 is cut short"),
        ([f"{MARK} 0 4 QUJD", f"{MARK} 0 4 QUJD"], "section 0 came twice"),
        ([f"{MARK} 0 4 QUJD extra"], "a section line has the wrong fields"),
        ([f"{MARK} x 4 QUJD"], "a section line has the wrong fields"),
    ],
)
def test_an_answer_that_breaks_the_framing_is_malformed(lines, reason):
    assert Snapshot().process(lines) == Malformed(reason)


@pytest.mark.parametrize(
    "answer",
    [
        Malformed("section 0 is not base64"),
        {0: [], 2: []},  # section 1 never came
        {0: ["/etc/hosts"], 1: ["not-a-mode"], 2: []},  # FileContent cannot parse its lines
    ],
)
def test_a_malformed_answer_fails_the_host_in_one_sentence(answer):
    state, host = _host()
    host.get_fact = lambda cls, **kwargs: answer
    with ctx_state.use(state), ctx_host.use(host), pytest.raises(DeployError) as raised:
        prefetch(QUERIES)
    message = str(raised.value)
    assert message.startswith("web1: the ") and "malformed" in message
    assert message.count(". ") == 0 and message.endswith(".")


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


def test_a_host_whose_answer_is_malformed_fails_alone():
    """The real deploy on two fake hosts: the broken one fails in a sentence, having run
    nothing; the other converges as if alone."""
    from .fakes import converged_machine
    from .test_deploy import run

    broken = converged_machine()
    broken.snapshot = [snapshot_line(0, ["ID=debian"]), f"{MARK} 1 3 ***"]
    result, commands = run({"web1": (broken, {}), "web2": (converged_machine(), {})}, facts=True)
    web1, web2 = result.hosts["@fake/web1"], result.hosts["@fake/web2"]
    assert web1.status == "failed" and web1.error == (
        "@fake/web1: the answer to the first command is malformed (section 1 is not base64), "
        "so nothing was changed; run again, and if it persists check the host's shell, sudo "
        "and base64."
    )
    assert len(commands["web1"]) == 1  # the first command alone
    assert web2.status == "unchanged" and web2.error is None


def _fact_classes():
    from provision.docker import facts
    from provision.docker.rootless import RootlessUsers
    from provision.profiles.ci_runner.deploy import Account, Builder

    found = [getattr(facts, name) for name in dir(facts)]
    found = [cls for cls in found if isinstance(cls, type) and issubclass(cls, FactBase)]
    return sorted({*found, RootlessUsers, Account, Builder} - {FactBase}, key=str)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(_fact_classes()),
    st.lists(
        st.one_of(st.text(max_size=30), st.sampled_from(["", "-", "a b c d e", "=="])), max_size=6
    ),
)
def test_any_answer_fails_a_fact_only_in_ways_that_fail_its_host(cls, lines):
    """What a host prints is data: a fact's parser returns a value or raises one of the errors
    the snapshot turns into that host's failure, never another that would stop the fleet."""
    state, host = _host()
    host.get_fact = lambda fact, **kwargs: {0: lines}
    with ctx_state.use(state), ctx_host.use(host):
        try:
            prefetch([(cls, _arguments(cls))])
        except DeployError as error:
            assert str(error).startswith("web1: the host's answer for ")


def _arguments(cls) -> dict:
    """Arguments for ``cls``'s command, by the names of its parameters."""
    import inspect

    values = {"packages": ["a"], "units": ["a"], "texts": ["a"], "users": ["a"], "patterns": ["/a"]}
    names = list(inspect.signature(cls().command).parameters)
    return {name: values.get(name, "a") for name in names if name not in ("proxy", "rootless")}


def test_a_fact_read_again_after_a_change_that_comes_back_malformed_fails_its_host_alone():
    """The real deploy on two fresh fake hosts: on web1 the first command answers well, then
    every file read after the first change (installing curl) is malformed. web1 fails at the
    operation that read it, in one sentence and with nothing written; web2 converges."""
    from provision.docker.deploy import install_queries
    from provision.docker.facts import FileContent
    from provision.docker.settings import DockerSettings

    from .fakes import DOCKER_KEY, fresh_machine, snapshot_line
    from .test_deploy import KEY_URL, run, written_to

    clean = fresh_machine(urls={KEY_URL: DOCKER_KEY})
    broken = fresh_machine(urls={KEY_URL: DOCKER_KEY}, forged={FileContent: ["x y z"]})
    broken.snapshot = [
        snapshot_line(index, clean.printed(cls, **kwargs))
        for index, (cls, kwargs) in enumerate(plan(install_queries(DockerSettings())))
    ]
    result, commands = run({"web1": (broken, {}), "web2": (clean, {})})
    web1, web2 = result.hosts["@fake/web1"], result.hosts["@fake/web2"]
    assert web1.status == "failed" and web1.error == (
        "@fake/web1: the host's answer for FileContent is malformed (ValueError), so the run "
        "stopped on this host before acting on it; check what the host prints for it."
    )
    assert any(
        "install --no-install-recommends ca-certificates curl" in c for c in commands["web1"]
    )
    assert not any("docker.asc" in command for command in commands["web1"])
    assert web2.status == "changed" and web2.error is None
    assert written_to(commands["web2"], "/etc/apt/keyrings/docker.asc")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=4))
def test_a_fact_read_on_its_own_fails_only_in_ways_that_fail_its_host(lines):
    """``fresh`` (a read after a change, a download) turns any parser error into the one
    sentence that fails this host, as the snapshot does; a good answer passes through."""
    from provision.core.snapshot import MalformedFact, fresh
    from provision.docker.facts import FileContent

    state, host = _host()
    host.get_fact = lambda cls, **kwargs: cls().process(lines)
    with ctx_state.use(state), ctx_host.use(host):
        try:
            value = fresh(FileContent, path="/x")
        except MalformedFact as error:
            assert str(error).startswith("web1: the host's answer for FileContent is malformed")
        else:
            assert value == FileContent().process(lines)
