"""Errors of fleet runs that are the user's to fix (exit code 2)."""

from provision.core import redact


class UsageError(Exception):
    """A bad inventory, ``--limit``, ``--data`` or settings; nothing was touched.;
    secrets in it are redacted."""

    def __init__(self, message: str):
        super().__init__(redact.text(message))
