"""Operations that say what they change: pyinfra's ``@operation`` with a description.

``operation(describe)`` records, per run and host, each call's function name, keyword arguments,
``OperationMeta`` and the operation's ``describe``; ``provision.core.changes`` turns the
records into the change report. An operation cannot be declared without its description, so no
operation that changes a host can be missing from a report.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from pyinfra import host, state
from pyinfra.api import operation as pyinfra_operation

from provision.core.compat import current, run_slot
from provision.core.snapshot import MalformedFact

Describe = Callable[[dict, Callable[[object], str]], object]  # (kwargs, name_of) -> Change


@dataclass(frozen=True)
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
    one sentence.
    """

    def wrap(func):
        op = pyinfra_operation(**options)(guarded(func))

        @functools.wraps(op)
        def call(*args, **kwargs):
            meta = op(*args, **kwargs)
            recorded = run_slot(current(host)).setdefault("calls", [])
            # ``kwargs`` is this call's own dict (``op`` got a copy): kept as it is
            recorded.append((current(state), Call(func.__name__, kwargs, meta, describe)))
            return meta

        call.describe = describe
        return call

    return wrap


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
