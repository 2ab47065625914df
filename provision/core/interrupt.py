"""Stopping a run cleanly on Ctrl-C or SIGTERM (a CI job's timeout).

Inside ``graceful()`` both signals raise ``KeyboardInterrupt`` once: the run then marks the
hosts in flight as interrupted, closes its connections and writes its report, with further
signals ignored so that nothing interrupts the clean-up.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[str] = []


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
    raise KeyboardInterrupt


@contextmanager
def catching() -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into one ``KeyboardInterrupt`` while the block runs (``received``
    names which), so that a command stopped at any moment exits with 130 or 143."""
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _received.clear()
    for sig in SIGNALS:
        signal.signal(sig, _stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def graceful() -> Iterator[None]:
    """``catching``, with gevent's loop passing the interrupt on without a traceback."""
    from provision.core.compat import interrupts_through_gevent

    with interrupts_through_gevent(), catching():
        yield
