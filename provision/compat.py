"""The few pyinfra and testinfra internals this package relies on, in one place.

Each is used through a function here; ``tests/unit/test_compat.py`` checks every one against
the installed releases and names the one that changed.
"""

from __future__ import annotations

from contextlib import contextmanager

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


def ssh_transport(host):
    """The paramiko transport of ``host``'s SSH connection, ``None`` when not connected."""
    client = getattr(host.connector, "client", None)
    return client.get_transport() if client is not None else None


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


def fresh_host_keys() -> None:
    """pyinfra reads each known_hosts file once per process (a memoized ``get_host_keys``);
    forget what it read, so that a run checks keys against the files as they are now (a file
    rewritten between two runs of one process: a library caller, the lab adding hosts)."""
    from pyinfra.connectors.sshuserclient import client

    client.get_host_keys.cache.clear()
