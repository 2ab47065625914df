"""The ``provision`` command's garbage collection: paused while it starts, and at exit.

``main`` pauses it (``starting``); the command resumes it once its imports are done and its
inventory is loaded (``started``). ``started`` is called again when the run is over (``finish``,
before the reports are written) and on the way out: each time it freezes the heap, so that no
later collection walks all of it.

Start-up imports and the inventory create only lasting objects (modules, classes, hosts), so
the collections they trigger find nothing; nor do passes over a finished run, whose objects live
until the exit. Each costs tens of milliseconds per command, and a fleet's run hundreds (about
0.05 ms per host). Library use (``import provision``) is not affected.
"""

from __future__ import annotations

import gc


def starting() -> None:
    """Pause collection until ``started``."""
    gc.disable()


def started() -> None:
    """Collect from here on, leaving out what exists now (start-up's imports and the
    inventory, or a finished run): it lives until the exit."""
    gc.freeze()
    gc.enable()
