"""Operations that remember how they were called, so a run can say what each one changes.

``operation`` is pyinfra's ``@operation`` plus a record, per run and host, of each call's
function name, keyword arguments and ``OperationMeta``: ``provision.fleet.changes`` describes
the changes from them and the facts the deploy read.
"""

from __future__ import annotations

import functools
import shlex
import weakref
from dataclasses import dataclass

from pyinfra import host, state
from pyinfra.api import operation as pyinfra_operation

from provision.compat import current

from .snapshot import MalformedFact

_CALLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # State -> {host: [Call]}


@dataclass(frozen=True)
class Call:
    """One operation call on one host."""

    function: str
    kwargs: dict
    meta: object  # pyinfra's OperationMeta

    @property
    def name(self) -> str:
        return self.kwargs.get("name") or self.function


def operation(**options):
    """``@operation(**options)`` of pyinfra, recording every call (see ``calls``); a fact that
    comes back malformed while it runs fails this host with one sentence."""

    def wrap(func):
        op = pyinfra_operation(**options)(guarded(func))

        @functools.wraps(op)
        def call(*args, **kwargs):
            meta = op(*args, **kwargs)
            runs = _CALLS.setdefault(current(state), {})
            # ``kwargs`` is this call's own dict (``op`` got a copy): kept as it is
            runs.setdefault(host.name, []).append(Call(func.__name__, kwargs, meta))
            return meta

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
    """The recorded calls on ``host_name`` in the run of ``run_state``, in call order."""
    return list(_CALLS.get(run_state, {}).get(host_name, []))
