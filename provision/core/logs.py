"""The SSH layer's own logging (paramiko, gevent, pyinfra, fabric): off the user's terminal by
default, where a dropped handshake would print a traceback per host; on stderr with ``-v``
(warnings) and ``-vv`` (debug)."""

from __future__ import annotations

import logging
import sys

LIBRARIES = ("paramiko", "gevent", "pyinfra", "fabric", "invoke")
LEVELS = {0: None, 1: logging.WARNING}


def configure(verbosity: int = 0) -> None:
    """Send the libraries' records to stderr at ``verbosity`` 1 or more, else nowhere."""
    level = LEVELS.get(verbosity, logging.DEBUG)
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.handlers = [logging.StreamHandler(sys.stderr) if level else logging.NullHandler()]
        logger.setLevel(level or logging.CRITICAL + 1)
        for handler in logger.handlers:
            handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))


def verbosity() -> int:
    """The verbosity set by ``configure``."""
    level = logging.getLogger(LIBRARIES[0]).level
    return 0 if level > logging.CRITICAL else 1 if level == logging.WARNING else 2
