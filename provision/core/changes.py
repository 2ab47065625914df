"""What each operation of a run changes (or would change), in words a user reads.

Every operation is declared with its own description (``recording.operation(describe=...)``):
a function of the call's arguments and the facts the operation itself read to decide what to
do (``snapshot.last_read``), so describing costs no extra command. After a real run, each
description's ``settle`` reads what it needs once per host (the versions installed, how long a
restarted daemon was down). File contents appear as unified diffs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from provision.core import redact
from provision.core.compat import operation_data
from provision.core.recording import Call, calls
from provision.core.snapshot import MalformedFact


class Item(Protocol):
    """One changed thing a change lists before its sentences (a package and its versions)."""

    name: str
    before: str | None
    after: str | None

    def sentence(self) -> str: ...

    def as_dict(self) -> dict: ...


@dataclass
class Change:
    """What one operation changes on one host.

    ``settle(host, changes)``, when set, completes the changes of a finished real run on
    ``host`` from what the host has now; it is called once per host with all of them.
    """

    operation: str
    what: list[str] = field(default_factory=list)
    packages: list[Item] = field(default_factory=list)
    diff: str = ""
    restarts: str | None = None  # the unit it restarts
    downtime_s: float | None = None  # how long that unit was down, after a real run
    settle: Callable[[object, list[Change]], None] | None = None
    # items the operation does not ask for that may move with it (containerd.io with a new
    # docker-ce, as apt's dependencies): reported once a run moved them
    along: list[Item] = field(default_factory=list)

    def moved(self) -> list[Item]:
        """The items it changes: those asked for, and those that moved along."""
        return self.packages + [p for p in self.along if p.after not in (None, p.before)]

    def lines(self) -> list[str]:
        """Sentences, packages first."""
        return [p.sentence() for p in self.moved()] + self.what

    def as_dict(self) -> dict:
        """The change as reported: sentences, packages and the diff, secrets redacted."""
        data: dict = {"operation": self.operation, "changes": self.lines()}
        if self.moved():
            data["packages"] = [p.as_dict() for p in self.moved()]
        if self.diff:
            data["diff"] = self.diff
        if self.downtime_s is not None:
            data["downtime_s"] = self.downtime_s
        return redact.redacted(data)


def changes_nothing(kwargs: dict, name_of) -> Change:
    """The description of an operation that never changes a host (it only refuses one, or
    says what it found)."""
    return Change("")


def plan(run_state, host_name: str) -> list[tuple[Call, Change]]:
    """The operations of ``host_name`` that would change, with what they would change (a dry
    run: called on the current host once its deploy is prepared, which ran each operation
    against its facts)."""
    recorded = calls(run_state, host_name)
    return [(call, describe(call, recorded)) for call in recorded if call.meta.will_change]


def ran(run_state, host, op_hash) -> tuple[Call, Change] | None:
    """The operation ``op_hash`` that just ran on the current host, with what it did (a real
    run: called as each operation succeeds, while its facts are the last ones read)."""
    meta = operation_data(run_state, host, op_hash)
    recorded = calls(run_state, host.name)
    call = next((c for c in recorded if meta is not None and c.meta is meta), None)
    return (call, describe(call, recorded)) if call else None


def describe(call: Call, recorded: list[Call]) -> Change:
    """What ``call`` changes, in words; ``recorded`` names the operations it depends on."""
    names = {id(c.meta): c.name for c in recorded}

    def name_of(meta) -> str:
        return names.get(id(meta), "an earlier operation")

    try:
        change = call.describe(call.kwargs, name_of)
    except (KeyError, TypeError, ValueError, AttributeError, MalformedFact):  # never fails a run
        change = Change("")
    change.operation = call.name
    return change


def changed(planned: list[tuple[Call, Change]], dry: bool) -> list[Change]:
    """The planned changes of the operations that changed (``dry``: that would change)."""
    kept = []
    for call, change in planned:
        meta = call.meta
        if dry and not meta.will_change:
            continue
        if not dry and not (meta.is_complete() and meta.did_change()):
            continue
        if not change.lines() and not change.diff:
            change.what.append("changed")
        kept.append(change)
    return kept


def settle(host, changes: list[Change]) -> None:
    """Complete the changes of a finished real run on ``host`` (each ``Change.settle`` once);
    a host gone away keeps what was asked for."""
    for settle_with in dict.fromkeys(c.settle for c in changes if c.settle):
        try:
            settle_with(host, changes)
        except Exception:  # the host went away: keep the versions asked for, no downtime
            pass


def as_dicts(changes: list[Change]) -> list[dict]:
    return [change.as_dict() for change in changes]


def diff(path: str, before: bytes | None, after: bytes) -> str:
    """A unified diff of a text file (``before`` ``None``: the file is new)."""
    old = (before or b"").decode(errors="replace").splitlines(keepends=True)
    new = after.decode(errors="replace").splitlines(keepends=True)
    lines = difflib.unified_diff(
        old, new, "/dev/null" if before is None else f"{path} (now)", f"{path} (wanted)"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
