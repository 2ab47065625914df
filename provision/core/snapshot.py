"""Every fact the deploy reads, gathered in one command while nothing has changed.

On a converged host the whole deploy then costs one round trip. Once an operation has changed
the host, facts are read again one by one, so later operations see the new state.

A fact class with ``merge_by`` (the name of its list argument) and ``select(value, items)``
is read once for all its queries: one ``dpkg-query`` for every package list, one
``systemctl show`` for every unit. Each query's answer is selected from the joint one.

Nothing a fact's command prints can pass for another fact's answer: each command's output
(stdout; its stderr is dropped) comes back as one line ``MARK INDEX LENGTH BASE64``, and the
controller decodes exactly those bytes. An answer that breaks this framing fails the host.

A fleet's snapshots are read ahead (``reading_ahead``): while one host is prepared, the
snapshots of the next ones are already on their way, so a fleet waits for its hosts' first
commands side by side rather than one after another.
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pyinfra import host, state
from pyinfra.api import DeployError, FactBase
from pyinfra.context import ctx_host

from provision.core.compat import (
    current,
    deploy_context_kept,
    in_background,
    operation_metas,
    run_slot,
    stop_all,
)

MARK = "=====provision-fact"
AT_ONCE = 64  # snapshots on their way at once, at most (and at most the run's parallel)


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
    planning(runs)
    sections = _read_ahead(runs)
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


class _Planned(BaseException):
    """Stops a deploy that runs only to learn its snapshot (``reading_ahead``); a
    ``BaseException``, so that no deploy's own ``except Exception`` takes it."""

    def __init__(self, runs: list[tuple[type, dict]] | None):
        super().__init__()
        self.runs = runs


def planning(runs: list[tuple[type, dict]] | None = None) -> None:
    """While this host's deploy runs only to learn its snapshot, stop it here: at its
    ``prefetch`` (``runs``: what to read ahead), or at the first operation or fact it reaches
    before one (``None``: nothing to read ahead)."""
    if run_slot(current(host)).get("planning"):
        raise _Planned(runs)


def reading_ahead(hosts: Iterable, deploy: Callable[[], None], at_once: int = 0) -> Iterator:
    """``hosts`` one by one, to prepare in turn, each with its snapshot on its way before its
    turn: the host being prepared and the next ones are read, ``at_once`` at most (default:
    ``AT_ONCE``, and no more than the run's ``PARALLEL``; 1 reads each in its own turn).

    To start a host's read, ``deploy`` runs on it up to its ``prefetch`` (``planning`` stops
    it there: no operation is declared and nothing else is read); the read then goes on in the
    background, and the host's ``prefetch`` takes its answer (or its error) in its turn. A
    deploy that declares an operation before it prefetches reads nothing ahead."""
    at_once = at_once or min(AT_ONCE, current(state).config.PARALLEL or AT_ONCE)
    hosts = list(hosts)
    started = 0
    try:
        for turn, each in enumerate(hosts):
            while started < min(len(hosts), turn + at_once):
                _start(hosts[started], deploy)
                started += 1
            yield each
    finally:  # the run ended early: reads nobody will take are stopped
        stop_all(slot["ahead"][2] for slot in map(run_slot, hosts) if "ahead" in slot)


def _start(on_host, deploy: Callable[[], None]) -> None:
    """Run ``deploy`` on ``on_host`` up to its ``prefetch`` and start that read."""
    slot = run_slot(on_host)
    declared = len(operation_metas(current(state), on_host))
    slot["planning"] = True
    try:
        with ctx_host.use(on_host), deploy_context_kept(on_host):
            deploy()
    except _Planned as planned:
        if planned.runs is not None:
            reading = in_background(_read, on_host, planned.runs)
            slot["ahead"] = (current(state), planned.runs, reading)
    except DeployError:  # the host's settings: it fails with them in its own turn
        pass
    finally:
        del slot["planning"]
    if len(operation_metas(current(state), on_host)) != declared:
        raise RuntimeError(
            f"{on_host.name}: the deploy declared a pyinfra operation that is not "
            "provision.core.recording.operation's; declare it with that decorator."
        )


def _read(on_host, runs: list[tuple[type, dict]]) -> tuple[bool, object]:
    """``(True, answer)`` of ``on_host``'s snapshot, or ``(False, the exception)``."""
    try:
        with ctx_host.use(on_host):
            return True, on_host.get_fact(Snapshot, queries=runs)
    except Exception as error:  # raised in the host's own turn, as if read then
        return False, error


def _read_ahead(runs: list[tuple[type, dict]]):
    """This host's snapshot: the answer read ahead for exactly ``runs``, else read now."""
    ahead = run_slot(current(host)).pop("ahead", None)
    if ahead is None or ahead[0] is not current(state) or ahead[1] != runs:
        if ahead is not None:
            ahead[2].kill()
        return host.get_fact(Snapshot, queries=runs)
    ok, answer = ahead[2].get()
    if not ok:
        raise answer
    return answer


def forget(on_host) -> None:
    """Drop ``on_host``'s facts of this run (``read`` would read them again)."""
    slot = run_slot(on_host)
    slot.pop("snapshot", None)
    slot.pop("last", None)
    slot.pop("ahead", None)


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
    planning()
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
    planning()
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
