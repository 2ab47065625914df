"""Stopping a run cleanly on Ctrl-C or SIGTERM (a CI job's timeout).

Inside ``graceful()`` both signals raise ``KeyboardInterrupt`` once: the run then marks the
hosts in flight as interrupted, closes its connections and writes its report, with further
signals ignored so that nothing interrupts the clean-up.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import greenlet

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[str] = []
_main: list[greenlet.greenlet] = []  # the greenlet running each ``catching`` block
T = TypeVar("T")
R = TypeVar("R")


def received() -> str:
    """The name of the signal that stopped the run (``SIGINT`` when none was seen)."""
    return _received[-1] if _received else "SIGINT"


def exit_code() -> int:
    """The shell's convention: 128 + the signal's number."""
    return 128 + signal.Signals[received()].value


def _stop(signum, frame) -> None:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    _received.append(signal.Signals(signum).name)
    main = _main[-1] if _main else None
    if main is not None and main is not greenlet.getcurrent():
        # the handler runs in whichever greenlet gevent was running (a host's connection):
        # the interrupt is the main one's, thrown there as soon as this one yields
        from provision.core.compat import throw_soon

        throw_soon(main, KeyboardInterrupt)
        return
    raise KeyboardInterrupt


@contextmanager
def catching() -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into one ``KeyboardInterrupt`` while the block runs (``received``
    names which), so that a command stopped at any moment exits with 130 or 143."""
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _received.clear()
    _main.append(greenlet.getcurrent())
    for sig in SIGNALS:
        signal.signal(sig, _stop)
    try:
        yield
    finally:
        _main.pop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block has run (a report is written whole), then take
    effect as they would have."""
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    previous = {sig: handler for sig, handler in previous.items() if handler is not None}
    came: list[int] = []
    for sig in previous:  # (a handler set outside Python is left alone)
        signal.signal(sig, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if came:  # handled as if it came now
        signal.raise_signal(came[0])


@contextmanager
def graceful() -> Iterator[None]:
    """``catching``, with gevent's loop passing the interrupt on without a traceback."""
    from provision.core.compat import interrupts_through_gevent

    with interrupts_through_gevent(), catching():
        yield


def each(work: Callable[[T], R], items: list[T], workers: int) -> tuple[dict[T, R], str | None]:
    """``work(item)`` for every item, ``workers`` at once, in threads that never hold up the
    process's exit: ``({item: result}, None)``, or on Ctrl-C or SIGTERM (under ``catching``)
    at once the results finished so far and the signal's name. ``work`` must not raise."""
    pending = queue.SimpleQueue()
    for item in items:
        pending.put(item)
    results: dict[T, R] = {}
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                item = pending.get_nowait()
            except queue.Empty:
                return
            results[item] = work(item)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, workers))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():  # a timed join: the signal handler runs between them
                thread.join(0.1)
    except KeyboardInterrupt:
        stop.set()
        return dict(results), received()
    return results, None
