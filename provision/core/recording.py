"""Operations that say what they change: pyinfra's ``@operation`` with a description.

``operation(describe)`` records, per run and host, each call's function name, keyword arguments,
``OperationMeta`` and the operation's ``describe``; ``provision.core.changes`` turns the
records into the change report. An operation cannot be declared without its description, so no
operation that changes a host can be missing from a report.

While a host is prepared under ``settling`` (the fleet runner's runs), each call's commands are
worked out at once from the facts read before the run. A call with none is *settled*: recorded
as complete and unchanged, and never given to pyinfra, so a converged host costs its facts and
no pyinfra operation. The first call with commands is given to pyinfra with exactly those
commands (its facts are read once), and every later call the usual way: it runs after that
change, and reads the facts again.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyinfra import host, state
from pyinfra.api import operation as pyinfra_operation

from provision.core.compat import current, global_argument_names, run_slot, settled_operation
from provision.core.snapshot import MalformedFact, forget, planning

Describe = Callable[[dict, Callable[[object], str]], object]  # (kwargs, name_of) -> Change


@dataclass(frozen=True, slots=True)
class Call:
    """One operation call on one host."""

    function: str
    kwargs: dict
    meta: object  # pyinfra's OperationMeta
    describe: Describe

    @property
    def name(self) -> str:
        return self.kwargs.get("name") or self.function


def operation(describe: Describe, **options):
    """``@operation(**options)`` of pyinfra, recording every call (see ``calls``).

    ``describe(kwargs, name_of)`` says in a ``changes.Change`` what a call changes, from its
    keyword arguments and the facts the operation read (``snapshot.last_read``); ``name_of(meta)``
    names an earlier operation the call depends on. ``changes.changes_nothing`` describes one that
    never changes a host. A fact that comes back malformed while it runs fails this host with
    one sentence. A settled call (see the module) keeps only its name.
    """

    def wrap(func):
        commands = guarded(func)
        op = pyinfra_operation(**options)(commands)
        given = pyinfra_operation(**options)(_given_commands)

        @functools.wraps(op)
        def call(*args, **kwargs):
            planning()  # a deploy run only to learn its snapshot stops here
            slot = run_slot(current(host))
            name = kwargs.get("name") or func.__name__
            found = _commands_now(commands, args, kwargs) if slot.get("settling") else None
            if found == []:
                meta, kept = settled_operation(), {"name": name}
            else:  # pyinfra runs this call and every later one of the host
                slot["settling"] = False
                meta = op(*args, **kwargs) if found is None else given(found, name=name)
                kept = kwargs  # this call's own dict (``op`` got a copy): kept as it is
            recorded = slot.setdefault("calls", [])
            recorded.append((current(state), Call(func.__name__, kept, meta, describe)))
            return meta

        call.describe = describe
        return call

    return wrap


@contextmanager
def settling(on_host) -> Iterator[None]:
    """Within the block (``on_host``'s deploy being prepared), settle the operations that change
    nothing (see the module), until the first one that changes the host. A host whose every
    operation settled forgets its facts on leaving: nothing reads them again."""
    slot = run_slot(on_host)
    slot["settling"] = True
    try:
        yield
    finally:
        if slot.pop("settling", None):
            forget(on_host)


def _commands_now(commands, args: tuple, kwargs: dict) -> list | None:
    """The commands of a call, worked out now; ``None`` for a call with pyinfra's own
    arguments besides ``name`` (``_sudo``, ``_if``, ...), which pyinfra runs as it would."""
    own = {key: value for key, value in kwargs.items() if key != "name"}
    if not global_argument_names().isdisjoint(own):
        return None
    return list(commands(*args, **own))


def _given_commands(commands: list):
    """The commands a call worked out while its host was settling."""
    yield from commands


def refuse(message: str) -> str:
    """A command that fails this host with ``message`` (a sentence that starts with the host's
    name) on stderr and changes nothing; pyinfra and the fleet runner both show it."""
    return f"echo {shlex.quote(message)} >&2; exit 1"


def guarded(func):
    """``func``'s commands, or, when a fact it reads is malformed, one that fails the host
    with that sentence (pyinfra would let the error out of the whole run)."""

    @functools.wraps(func)
    def commands(*args, **kwargs):
        try:
            yield from func(*args, **kwargs)
        except MalformedFact as error:
            yield refuse(str(error))

    return commands


def calls(run_state, host_name: str) -> list[Call]:
    """The recorded calls on ``host_name`` in the run of ``run_state``, in call order (kept on
    the host for its run: ``compat.fresh_run`` forgets them)."""
    recorded = run_slot(run_state.inventory.get_host(host_name)).get("calls", [])
    return [call for in_state, call in recorded if in_state is run_state]
