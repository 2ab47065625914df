"""The pyinfra and testinfra internals ``provision.core.compat`` relies on, checked against the
installed releases: when one changes, the failure names it and the module to update."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from importlib.metadata import version

import pytest
from pyinfra import host as host_proxy
from pyinfra import state as state_proxy
from pyinfra.api import Config, Inventory, State
from pyinfra.api.exceptions import ConnectorDataTypeError
from pyinfra.context import ctx_host, ctx_state

from provision.core import compat
from provision.docker import operations

RELEASES = f"pyinfra {version('pyinfra')}, pytest-testinfra {version('pytest-testinfra')}"


def changed(what: str) -> str:
    return f"{RELEASES}: {what} changed; update provision/core/compat.py to match."


@pytest.fixture
def one_host():
    inventory = Inventory((["web1"], {"ssh_port": 22}))
    state = State(inventory, Config())
    host = inventory.get_host("web1")
    with ctx_state.use(state), ctx_host.use(host):
        yield state, host


def test_context_proxies_reach_the_state_and_host(one_host):
    state, host = one_host
    assert compat.current(state_proxy) is state, changed("pyinfra.state's _get_module()")
    assert compat.current(host_proxy) is host, changed("pyinfra.host's _get_module()")


def test_operations_keep_their_generator_function():
    generator = compat.inner(operations.file_absent)
    assert inspect.isgeneratorfunction(generator), changed("@operation's _inner attribute")


def test_operation_output_and_meta():
    from pyinfra.api.connect import connect_all
    from pyinfra.api.operations import run_ops
    from pyinfra.operations import server

    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config())
    host = inventory.get_host("@local")
    with ctx_state.use(state):
        connect_all(state)
        with ctx_host.use(host):
            meta = server.shell(name="say hello", commands=["echo hello; echo oops >&2"])
        run_ops(state)
    op_hash = host.op_hash_order[0]
    assert state.ops[host][op_hash].operation_meta is meta, changed("State.ops[host][hash]")
    assert meta.is_complete() and meta.did_change(), changed("OperationMeta")
    assert compat.op_output(state, host, op_hash) == (["hello"], ["oops"]), changed(
        "OperationMeta.stdout_lines / stderr_lines"
    )
    assert [name for name in state.get_op_meta(op_hash).names] == ["say hello"]
    assert state.get_op_order() == [op_hash], changed("State.get_op_order")


def test_ssh_connector_keeps_its_paramiko_client(one_host):
    _, host = one_host
    source = inspect.getsource(host.connector_cls)
    assert "self.client" in source and "get_transport" in source, changed(
        "SSHConnector.client (the paramiko SSHClient)"
    )
    assert compat.ssh_transport(host) is None  # not connected


def test_connector_data_types(one_host):
    _, host = one_host
    types = compat.connector_data_types(host)
    assert types.get("ssh_port") is int, changed("SSHConnector.data_cls type hints")
    with pytest.raises(ConnectorDataTypeError):
        compat.raise_if_bad_type("22x", types["ssh_port"], ConnectorDataTypeError, "ssh_port")


def test_inventory_loading(tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text('web = [("web1", {"docker_users": ["a"]})]\n')
    with ctx_state.use(State()):
        inventory = compat.make_inventory(str(path), override_data={"x": 1}, cwd=str(tmp_path))
    web1 = inventory.get_host("web1")
    assert (web1.data.docker_users, web1.data.x) == (["a"], 1), changed(
        "pyinfra_cli.inventory.make_inventory"
    )
    assert "web" in inventory.groups


def test_testinfra_parametrizes_hosts_as_testinfra_host(tmp_path):
    """testinfra's plugin, loaded by its module name alone, takes ``--hosts`` and gives each
    collected test the host it runs against, which ``compat.testinfra_host`` finds."""
    (tmp_path / "test_one.py").write_text(
        "def test_one(host):\n    pass\n\ndef test_two():\n    pass\n"
    )
    (tmp_path / "conftest.py").write_text(
        "from provision.core import compat\n\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        found = compat.testinfra_host(item)\n"
        "        print(item.name, found.backend.get_pytest_id() if found else None)\n"
    )
    command = [sys.executable, "-m", "pytest", "-p", compat.TESTINFRA_PLUGIN, "-s", "-q"]
    command += ["--collect-only", "--hosts=local://,docker://web1", "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, changed(f"testinfra's plugin module: {done.stdout}{done.stderr}")
    lines = set(done.stdout.splitlines())
    assert {"test_one[local] local", "test_one[docker://web1] docker://web1"} <= lines, changed(
        f"testinfra's _testinfra_host parameter: {done.stdout}"
    )
    assert "test_two None" in lines


def test_importing_pyinfra_cli_reads_the_installed_distributions_once():
    """gevent's patching asks for entry points once per patched module; ``compat`` answers all
    of them from one reading. Run in a fresh interpreter: pyinfra_cli patches on first import."""
    script = """
import importlib.metadata as metadata
walks = []
original = metadata.distributions
metadata.distributions = lambda **kw: walks.append(1) or original(**kw)
from provision.core import compat
with compat.entry_points_read_once():
    import pyinfra_cli.inventory
from gevent import monkey
assert monkey.is_module_patched("socket")
assert metadata.entry_points.__module__ == "importlib.metadata", "not restored"
print(len(walks))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 1, changed(f"gevent's patching walked {done.stdout.strip()} times")


def test_global_arguments_are_read_once_per_process(one_host, monkeypatch):
    from pyinfra.api import arguments

    compat.global_arguments_read_once()
    state, host = one_host
    reads, calls = [], []
    original = arguments.get_type_hints
    monkeypatch.setattr(arguments, "get_type_hints", lambda *a: reads.append(1) or original(*a))
    read_once = arguments.all_global_arguments
    monkeypatch.setattr(arguments, "all_global_arguments", lambda: calls.append(1) or read_once())
    for _ in range(3):
        found, _keys = arguments.pop_global_arguments(state, host, {"_sudo": True})
        assert found["_sudo"] is True and found["_sudo_user"] is None
    assert len(calls) == 3, changed("pop_global_arguments' reading of all_global_arguments")
    monkeypatch.setattr(arguments, "all_global_arguments", read_once)
    keys = [key for key, _type in arguments.all_global_arguments()]
    assert reads == [] and "_sudo" in keys and "_retries" in keys
    assert keys == list(original(arguments.AllArguments))  # the same arguments, in order


def test_a_run_reads_known_hosts_as_the_file_is_now(tmp_path):
    from pyinfra.connectors.sshuserclient.client import get_host_keys

    from provision.core.compat import fresh_host_keys

    known = tmp_path / "known_hosts"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    known.write_text("")
    assert get_host_keys((str(known),)).lookup("10.0.0.13") is None
    known.write_text("10.0.0.13 " + (tmp_path / "k.pub").read_text())
    assert get_host_keys((str(known),)).lookup("10.0.0.13") is None  # pyinfra's memo
    fresh_host_keys()
    assert get_host_keys((str(known),)).lookup("10.0.0.13") is not None


def test_hosts_are_initialised_as_pyinfra_initialises_them():
    from pyinfra.api.host import Host

    compat.hosts_padded_once_per_run()

    def initialised(host) -> dict:
        return {
            key: type(value) if key == "connector" else value for key, value in vars(host).items()
        }

    inventory = Inventory((["a", "bbbb", "cc"], {}))
    state = State(inventory, Config())  # each host by the one-walk init
    ours = {host.name: initialised(host) for host in inventory}
    for host in inventory:
        Host.init.original(host, state)
    assert ours == {host.name: initialised(host) for host in inventory}, changed("Host.init")
    assert inventory.get_host("a").print_prefix_padding == "   "


def test_the_host_limit_is_a_list_pyinfra_searches_by_set():
    inventory = Inventory((["web1", "web2", "web3"], {}))
    chosen = [inventory.get_host("web1"), inventory.get_host("web3")]
    state = State(inventory, Config(), initial_limit=compat.host_limit(chosen))
    assert isinstance(state.limit_hosts, list) and state.limit_hosts == chosen
    inside = {host.name for host in inventory if state.is_host_in_limit(host)}
    assert inside == {"web1", "web3"}, changed("State.is_host_in_limit")


def test_a_settled_operation_reads_as_pyinfras_complete_unchanged_one():
    from pyinfra.api.operation import OperationMeta

    meta = compat.settled_operation()
    assert isinstance(meta, OperationMeta)
    assert meta.is_complete() and meta.did_succeed() and not meta.did_error()
    assert not meta.did_change() and not meta.will_change and not meta.executed
    assert (meta.stdout_lines, meta.stderr_lines) == ([], []), changed("OperationMeta")
    assert compat.settled_operation() is not meta  # each names its own call


def test_pyinfras_global_arguments_are_known_by_name():
    assert {"name", "_sudo", "_if", "_serial"} <= compat.global_argument_names()


def test_a_hosts_deploy_context_is_kept_however_the_block_ends(one_host):
    from pyinfra.api import deploy

    _, host = one_host
    before = [getattr(host, name) for name in compat.DEPLOY_CONTEXT]

    @deploy("Outer")
    def stops():
        assert host.in_deploy and host.current_deploy_name == "Outer", changed("Host.deploy")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), compat.deploy_context_kept(host):
        stops()
    assert [getattr(host, name) for name in compat.DEPLOY_CONTEXT] == before
    with pytest.raises(KeyboardInterrupt), compat.deploy_context_kept(host):
        host.in_deploy, host.current_deploy_name = True, "left set"  # as pyinfra < 3.9 leaves it
        raise KeyboardInterrupt
    assert [getattr(host, name) for name in compat.DEPLOY_CONTEXT] == before
