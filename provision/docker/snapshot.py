"""Every fact the deploy reads, gathered in one command while nothing has changed.

On a converged host the whole deploy then costs one round trip. Once an operation has changed
the host, facts are read again one by one, so later operations see the new state.

A fact class with ``merge_by`` (the name of its list argument) and ``select(value, items)``
is read once for all its queries: one ``dpkg-query`` for every package list, one
``systemctl show`` for every unit. Each query's answer is selected from the joint one.
"""

from __future__ import annotations

import sys
import weakref

from pyinfra import host, state
from pyinfra.api import FactBase

from provision.compat import current

MARK = "=====provision-fact-"
_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Host -> {key: (State, value)}


def _key(cls: type, kwargs: dict) -> tuple:
    """A query's key; interned, so a fleet's hosts share one string per query."""
    return cls.__name__, sys.intern(repr(sorted(kwargs.items())))


class Snapshot(FactBase):
    """The outputs of several facts, each processed by its own fact class."""

    def command(self, queries) -> str:
        return (
            " ".join(
                f"echo '{MARK}{index}'; {{ {cls().command(**kwargs)} ; }};"
                for index, (cls, kwargs) in enumerate(queries)
            )
            + " true"
        )

    def process(self, output: list[str]):
        """Lines per query index; ``None`` when the output is not a snapshot."""
        sections: dict[int, list[str]] = {}
        current = None
        for line in output:
            if line.startswith(MARK) and line[len(MARK) :].isdigit():
                current = int(line[len(MARK) :])
                sections[current] = []
            elif current is not None:
                sections[current].append(line)
        return sections or None

    @staticmethod
    def default():
        return None


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
        values = {}
        for index, (cls, kwargs) in enumerate(runs):
            lines = sections.get(index)
            if lines is None:
                return  # incomplete: fall back to reading facts one by one
            values[_run_key(cls, kwargs)] = cls().process(lines) if lines else cls.default()
        for cls, kwargs in queries:
            answers[_key(cls, kwargs)] = _selected(cls, kwargs, values[_run_key(cls, kwargs)])
    current(host).provision_snapshot = (current(state), answers)


def read(cls: type, **kwargs):
    """A fact, from the snapshot while no operation has changed this host yet."""
    snapshot = getattr(host, "provision_snapshot", None)
    key = _key(cls, kwargs)
    if snapshot and snapshot[0] is current(state) and key in snapshot[1] and not _changed_so_far():
        value = snapshot[1][key]
    else:
        value = _selected(cls, kwargs, host.get_fact(cls, **kwargs))
    _LAST.setdefault(current(host), {})[key] = (current(state), value)
    return value


def last_read(cls: type, **kwargs):
    """What ``read`` last answered on this host in this run (what an operation that just ran
    saw); ``read`` now if nothing did."""
    seen = _LAST.get(current(host), {}).get(_key(cls, kwargs))
    if seen is not None and seen[0] is current(state):
        return seen[1]
    return read(cls, **kwargs)


def _changed_so_far() -> bool:
    ops = state.ops.get(current(host), {})
    for op_hash in host.op_hash_order:
        data = ops.get(op_hash)
        meta = data.operation_meta if data else None
        if meta is not None and meta.is_complete() and meta.did_change():
            return True
    return False
