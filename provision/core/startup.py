"""The ``provision`` command's garbage collection: paused while it starts, and at exit.

``main`` pauses it (``starting``); the command resumes it once its imports are done
(``started``), and ``main`` calls ``started`` again on the way out, which freezes the heap so
that the exit does no collection over all of it.

Start-up imports create only lasting objects (modules, classes, functions), so the collections
they trigger find nothing; nor does the last pass over the whole heap at exit. Both cost tens of
milliseconds per command. Library use (``import provision``) is not affected.
"""

from __future__ import annotations

import gc


def starting() -> None:
    """Pause collection until ``started``."""
    gc.disable()


def started() -> None:
    """Imports are done: collect from here on, leaving out what start-up made."""
    gc.freeze()
    gc.enable()
