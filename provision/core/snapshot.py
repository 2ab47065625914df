"""Every fact the deploy reads, gathered in one command while nothing has changed.

On a converged host the whole deploy then costs one round trip. Once an operation has changed
the host, facts are read again one by one, so later operations see the new state.

A fact class with ``merge_by`` (the name of its list argument) and ``select(value, items)``
is read once for all its queries: one ``dpkg-query`` for every package list, one
``systemctl show`` for every unit. Each query's answer is selected from the joint one.

Nothing a fact's command prints can pass for another fact's answer: each command's output
(stdout; its stderr is dropped) comes back as one line ``MARK INDEX LENGTH BASE64``, and the
controller decodes exactly those bytes. An answer that breaks this framing fails the host.
"""

from __future__ import annotations

import base64
import binascii
import sys
from dataclasses import dataclass

from pyinfra import host, state
from pyinfra.api import DeployError, FactBase

from provision.core.compat import current, operation_metas, run_slot

MARK = "=====provision-fact"


def _key(cls: type, kwargs: dict) -> tuple:
    """A query's key; interned, so a fleet's hosts share one string per query."""
    return cls.__name__, sys.intern(repr(sorted(kwargs.items())))


class MalformedFact(DeployError):
    """A fact read outside the snapshot (after a change, or a download) came back in a shape
    its parser refuses: the operation that read it fails this host with the message
    (``provision.core.recording.guarded``); while a deploy is prepared, the host fails."""


@dataclass(frozen=True)
class Malformed:
    """A snapshot answer that breaks the framing: why, in words."""

    reason: str


class Snapshot(FactBase):
    """The outputs of several facts, each processed by its own fact class."""

    def command(self, queries) -> str:
        return (
            " ".join(
                f"b=$({{ {cls().command(**kwargs)} ; }} </dev/null 2>/dev/null | base64 -w0); "
                f"printf '%s %s %s %s\\n' '{MARK}' {index} \"${{#b}}\" \"$b\";"
                for index, (cls, kwargs) in enumerate(queries)
            )
            + " true"
        )

    def process(self, output: list[str]):
        """Lines per query index; ``None`` when the output is not a snapshot, ``Malformed``
        when it is one that does not decode."""
        sections: dict[int, list[str]] = {}
        for line in output:
            fields = line.split(" ")
            if fields[0] != MARK:
                continue
            if len(fields) != 4 or not (fields[1].isdecimal() and fields[2].isdecimal()):
                return Malformed("a section line has the wrong fields")
            index, length, payload = int(fields[1]), int(fields[2]), fields[3]
            if index in sections:
                return Malformed(f"section {index} came twice")
            if length != len(payload):
                return Malformed(f"section {index} is cut short")
            try:
                sections[index] = output_lines(base64.b64decode(payload, validate=True))
            except binascii.Error:
                return Malformed(f"section {index} is not base64")
        return sections or None

    @staticmethod
    def default():
        return None


def output_lines(data: bytes) -> list[str]:
    """``data`` as the lines pyinfra gives a fact's ``process`` (split at newlines only)."""
    if not data:
        return []
    return data.decode(errors="replace").removesuffix("\n").split("\n")


def plan(queries: list[tuple[type, dict]]) -> list[tuple[type, dict]]:
    """The queries a snapshot runs for ``queries``: each once, those of a class with
    ``merge_by`` joined into one per class (when their other arguments are equal)."""
    runs: list[tuple[type, dict]] = []
    index: dict[tuple, int] = {}
    for cls, kwargs in queries:
        key = _run_key(cls, kwargs)
        field = getattr(cls, "merge_by", None)
        if key not in index:
            index[key] = len(runs)
            runs.append((cls, {**kwargs, field: list(kwargs[field])} if field else kwargs))
        elif field:
            items = runs[index[key]][1][field]
            items.extend(item for item in kwargs[field] if item not in items)
    return runs


def _run_key(cls: type, kwargs: dict) -> tuple:
    field = getattr(cls, "merge_by", None)
    return _key(cls, {k: v for k, v in kwargs.items() if k != field})


def _selected(cls: type, kwargs: dict, value):
    """``value`` of a joint read narrowed to what ``kwargs`` asked for."""
    field = getattr(cls, "merge_by", None)
    return cls.select(value, kwargs[field]) if field else value


def prefetch(queries: list[tuple[type, dict]]) -> None:
    """Read ``queries`` (fact class, kwargs) in one command, for ``read`` to answer from."""
    runs = plan(queries)
    sections = host.get_fact(Snapshot, queries=runs)
    answers = {}
    if sections is not None:
        if not isinstance(sections, Malformed):
            missing = [index for index in range(len(runs)) if index not in sections]
            sections = Malformed(f"section {missing[0]} is missing") if missing else sections
        if isinstance(sections, Malformed):
            raise DeployError(
                f"{host.name}: the answer to the first command is malformed "
                f"({sections.reason}), so nothing was changed; run again, and if it persists "
                "check the host's shell, sudo and base64."
            )
        values = {}
        for index, (cls, kwargs) in enumerate(runs):
            values[_run_key(cls, kwargs)] = _processed(cls, sections[index])
        for cls, kwargs in queries:
            answers[_key(cls, kwargs)] = _selected(cls, kwargs, values[_run_key(cls, kwargs)])
    run_slot(current(host))["snapshot"] = (current(state), answers)


def forget(on_host) -> None:
    """Drop ``on_host``'s facts of this run (``read`` would read them again)."""
    slot = run_slot(on_host)
    slot.pop("snapshot", None)
    slot.pop("last", None)


def _processed(cls: type, lines: list[str]):
    """``cls``'s value for ``lines``; what it cannot make sense of fails the host."""
    if not lines:
        return cls.default()
    try:
        return cls().process(lines)
    except (ValueError, LookupError, TypeError) as error:
        raise DeployError(
            f"{host.name}: the host's answer for {cls.__name__} is malformed "
            f"({type(error).__name__}), so nothing was changed; check what the host prints for it."
        ) from None


def read(cls: type, **kwargs):
    """A fact, from the snapshot while no operation has changed this host yet."""
    snapshot = run_slot(current(host)).get("snapshot")
    key = _key(cls, kwargs)
    if snapshot and snapshot[0] is current(state) and key in snapshot[1] and not _changed_so_far():
        value = snapshot[1][key]
    else:
        value = fresh(cls, **kwargs)
    run_slot(current(host)).setdefault("last", {})[key] = (current(state), value)
    return value


def fresh(cls: type, **kwargs):
    """``cls`` read now, on its own (``kwargs`` may hold pyinfra's, as ``_stdin``); an answer
    its parser refuses fails this host as a malformed snapshot answer does, never the fleet."""
    try:
        return _selected(cls, kwargs, host.get_fact(cls, **kwargs))
    except (ValueError, LookupError, TypeError) as error:
        raise MalformedFact(
            f"{host.name}: the host's answer for {cls.__name__} is malformed "
            f"({type(error).__name__}), so the run stopped on this host before acting on it; "
            "check what the host prints for it."
        ) from None


def last_read(cls: type, **kwargs):
    """What ``read`` last answered on this host in this run (what an operation that just ran
    saw); ``read`` now if nothing did."""
    seen = run_slot(current(host)).get("last", {}).get(_key(cls, kwargs))
    if seen is not None and seen[0] is current(state):
        return seen[1]
    return read(cls, **kwargs)


def _changed_so_far() -> bool:
    metas = operation_metas(current(state), current(host))
    return any(meta.is_complete() and meta.did_change() for meta in metas)
