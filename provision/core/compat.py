"""The few pyinfra and testinfra internals this package relies on, in one place.

Each is used through a function here; ``tests/unit/test_compat.py`` checks every one against
the installed releases and names the one that changed.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cache

TESTINFRA_PLUGIN = "testinfra.plugin"  # testinfra's pytest plugin module (``-p``)


def current(proxy):
    """The object behind one of pyinfra's context proxies (``pyinfra.host``, ``pyinfra.state``)."""
    return proxy._get_module()


def inner(operation):
    """The generator function under a pyinfra ``@operation`` (to run it without a state)."""
    return operation._inner


def op_output(state, host, op_hash) -> tuple[list[str], list[str]]:
    """``(stdout, stderr)`` lines of an operation that ran on ``host``; empty when none."""
    meta = state.ops[host][op_hash].operation_meta
    try:
        return list(meta.stdout_lines), list(meta.stderr_lines)
    except Exception:  # no output recorded (the connection was lost)
        return [], []


def operation_data(state, host, op_hash):
    """The ``OperationMeta`` of operation ``op_hash`` on ``host`` in ``state``; ``None`` when
    the host has no such operation."""
    data = state.ops.get(host, {}).get(op_hash)
    return data.operation_meta if data is not None else None


def operation_metas(state, host) -> list:
    """The ``OperationMeta`` of each operation ``host`` has in ``state``, in the host's order
    (pyinfra's ``op_hash_order``)."""
    found = [operation_data(state, host, op_hash) for op_hash in host.op_hash_order]
    return [meta for meta in found if meta is not None]


RUN_SLOT = "provision_run"  # what this package keeps on a pyinfra host for one run


def fresh_run(host) -> None:
    """Forget ``host``'s operations of an earlier run (pyinfra's ``op_hash_order``, read by every
    later run of the inventory) and what this package kept on it for that run."""
    host.op_hash_order = []
    vars(host).pop(RUN_SLOT, None)


def run_slot(host) -> dict:
    """What this package keeps on pyinfra ``host`` for the current run (``fresh_run`` clears it)."""
    return vars(host).setdefault(RUN_SLOT, {})


def set_stage(state, stage: str) -> None:
    """Move ``state`` to pyinfra's stage ``stage`` (``Connect``, ``Prepare``, ``Execute``,
    ``Disconnect``), as pyinfra's own command line does around each step."""
    from pyinfra.api.state import StateStage

    state.set_stage(StateStage[stage])


@contextmanager
def interrupts_through_gevent():
    """Within the block, a ``KeyboardInterrupt`` raised in gevent's loop (a signal taken while
    it runs) goes on to the waiting code without a traceback; restored afterwards."""
    import gevent

    hub = gevent.get_hub()
    before = hub.NOT_ERROR
    if KeyboardInterrupt not in before:
        hub.NOT_ERROR = (*before, KeyboardInterrupt)
    try:
        yield
    finally:
        hub.NOT_ERROR = before


DEPLOY_CONTEXT = (
    "in_deploy",
    "current_deploy_name",
    "current_deploy_kwargs",
    "current_deploy_data",
)


@contextmanager
def deploy_context_kept(host):
    """Within the block, ``host``'s deploy context (pyinfra's ``Host.deploy``: the name,
    arguments and data of the deploys it is in) is restored however the block ends; pyinfra
    before 3.9 leaves it set when a deploy raises."""
    kept = [getattr(host, name) for name in DEPLOY_CONTEXT]
    try:
        yield
    finally:
        for name, value in zip(DEPLOY_CONTEXT, kept, strict=True):
            setattr(host, name, value)


def in_background(function, *args):
    """Start ``function(*args)`` in a greenlet of pyinfra's loop; the greenlet has ``get()``
    (its result, waiting for it), ``kill()`` and ``dead``."""
    import gevent

    return gevent.spawn(function, *args)


def stop_all(greenlets) -> None:
    """Stop ``greenlets`` (``in_background``'s) and wait until each has."""
    import gevent

    gevent.killall(list(greenlets))


def throw_soon(target, error: type[BaseException]) -> None:
    """Raise ``error`` in greenlet ``target`` as soon as the running greenlet yields to
    gevent's loop."""
    import gevent

    gevent.get_hub().loop.run_callback(target.throw, error)


def invoke_threads_on_gevent() -> None:
    """Keep invoke's threads (fabric runs every command with them) on gevent's ``Thread``.

    pyinfra runs on gevent: loading an inventory patches the standard library. invoke is
    imported earlier (paramiko imports it), so its thread class still derives from the real
    ``threading.Thread``: started as a greenlet, such a thread never looks finished, and invoke
    waits for it forever, so every command would hang. Re-parenting the class fixes that at
    any import order.
    """
    import threading

    from gevent import monkey
    from invoke import util as invoke_util

    if monkey.is_module_patched("threading"):
        thread = invoke_util.ExceptionHandlingThread
        if not issubclass(thread, threading.Thread):
            thread.__bases__ = (threading.Thread,)


def _already_ran():
    return iter(())


_RELEASED: dict = {}  # a released operation's global arguments: nothing reads them again


def release_operation(state, host, op_hash) -> None:
    """Drop what pyinfra keeps of an operation on ``host`` only to run it: its command
    generator (which holds the call's arguments) and its global arguments. Its
    ``OperationMeta`` (success, change, output) stays for the reports."""
    data = state.ops.get(host, {}).get(op_hash)
    if data is not None:
        data.command_generator, data.global_arguments = _already_ran, _RELEASED


def release_operations(state, host) -> None:
    """``release_operation`` for every operation of ``host`` (a dry run's, which never run)."""
    for op_hash in host.op_hash_order:
        release_operation(state, host, op_hash)


def ssh_transport(host):
    """The paramiko transport of ``host``'s SSH connection, ``None`` when not connected."""
    client = getattr(host.connector, "client", None)
    return client.get_transport() if client is not None else None


def over_ssh(host) -> bool:
    """Whether pyinfra reaches ``host`` with its SSH connector."""
    from pyinfra.connectors.ssh import SSHConnector

    return host.connector_cls is SSHConnector


def connector_data_types(host) -> dict[str, object]:
    """``{key: type}`` of the host data ``host``'s connector reads (``ssh_port``: int, ...)."""
    import typing

    return typing.get_type_hints(host.connector_cls.data_cls)


def testinfra_host(item):
    """The testinfra host a collected pytest ``item`` runs against, ``None`` for other tests."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return callspec.params.get("_testinfra_host")


def testinfra_host_id(item) -> str | None:
    """The pytest id of the testinfra host a collected ``item`` runs against (``ssh://web1``),
    ``None`` for other tests."""
    found = testinfra_host(item)
    return found.backend.get_pytest_id() if found is not None else None


def ssh_failure(error: Exception):
    """The result (``stderr``, ``rc``) of a testinfra command that ssh itself failed (exit
    255: testinfra's ssh backend raises ``RuntimeError(result)``), else ``None``."""
    result = error.args[0] if isinstance(error, RuntimeError) and error.args else None
    return result if hasattr(result, "stderr") and hasattr(result, "rc") else None


def make_inventory(path: str, override_data: dict, cwd: str):
    """pyinfra's own inventory loading (``pyinfra_cli``): group data files and all."""
    with entry_points_read_once():  # importing pyinfra_cli monkey-patches with gevent
        from pyinfra_cli.inventory import make_inventory as make

    return make(path, override_data=override_data, cwd=cwd)


def raise_if_bad_type(value, hint, error_cls, message: str) -> None:
    """pyinfra's check of connector data against the connector's type hints."""
    from pyinfra.api.util import raise_if_bad_type as check

    check(value, hint, error_cls, message)


@contextmanager
def entry_points_read_once():
    """Within the block, ``importlib.metadata.entry_points`` answers from one reading.

    gevent's ``monkey.patch_all`` (run by importing ``pyinfra_cli``) looks for plugins once per
    module it patches: about 25 walks over every installed distribution, some 40 ms of each
    command's start-up with a few dozen packages installed. Nothing installs packages meanwhile.
    """
    from importlib import metadata

    original = metadata.entry_points
    everything = original()
    metadata.entry_points = lambda **params: everything.select(**params)
    try:
        yield
    finally:
        metadata.entry_points = original


@cache
def global_argument_names() -> frozenset[str]:
    """The names of pyinfra's global operation arguments (``name``, ``_sudo``, ``_if``, ...)."""
    from pyinfra.api import arguments

    return frozenset(name for name, _ in arguments.all_global_arguments())


def settled_operation():
    """pyinfra's result of an operation found to change nothing before the run, and so never
    given to pyinfra (``recording.operation``): complete, succeeded, changed nothing."""
    return _settled_class()()


@cache
def _settled_class() -> type:
    from pyinfra.api.operation import OperationMeta
    from pyinfra.connectors.util import CommandOutput

    class Settled(OperationMeta):
        _hash = "settled"
        _success = True
        _commands = ()
        _maybe_is_change = False
        _combined_output = CommandOutput([])

        def __init__(self):  # nothing per instance: a fleet holds one per operation and host
            pass

    return Settled


def global_arguments_read_once() -> None:
    """pyinfra reads the types of its global operation arguments (``typing.get_type_hints``)
    again for every operation on every host; they never change, so read them once."""
    from pyinfra.api import arguments

    if getattr(arguments.all_global_arguments, "read_once", False):
        return
    found = arguments.all_global_arguments()

    def all_global_arguments() -> list[tuple[str, type]]:
        return list(found)

    all_global_arguments.read_once = True  # type: ignore[attr-defined]
    arguments.all_global_arguments = all_global_arguments


def hosts_padded_once_per_run() -> None:
    """pyinfra's ``Host.init`` (run by ``State.init`` for every host) pads the host's log
    prefix to the inventory's longest name, found by walking every host: the square of the
    fleet's size per run. Find that length once per run instead; the same padding results."""
    from pyinfra.api.host import Host

    if getattr(Host.init, "original", None):
        return
    original = Host.init

    def init(self, state) -> None:
        self.state = state
        self.connector = self.connector_cls(state, self)
        found = vars(state).get(_LONGEST_NAME)
        if found is None or found[0] is not self.inventory:
            found = (self.inventory, max(len(host.name) for host in self.inventory))
            vars(state)[_LONGEST_NAME] = found
        self.print_prefix_padding = " " * (found[1] - len(self.name))

    init.original = original  # type: ignore[attr-defined]
    Host.init = init


_LONGEST_NAME = "provision_longest_name"


class _Limit(list):
    """pyinfra's host limit: a list, as pyinfra requires, that answers ``in`` from a set
    (pyinfra asks once per host, so a list's search would cost the square of the fleet)."""

    def __init__(self, hosts):
        super().__init__(hosts)
        self.members = frozenset(self)

    def __contains__(self, host) -> bool:
        return host in self.members


def host_limit(hosts) -> list:
    """``hosts`` as pyinfra's ``State.init(initial_limit=...)`` takes them (not to be changed)."""
    return _Limit(hosts)


def fresh_host_keys() -> None:
    """pyinfra reads each known_hosts file once per process (a memoized ``get_host_keys``);
    forget what it read, so that a run checks keys against the files as they are now (a file
    rewritten between two runs of one process: a library caller, the lab adding hosts)."""
    from pyinfra.connectors.sshuserclient import client

    client.get_host_keys.cache.clear()
