"""Errors of fleet runs that are the user's to fix (exit code 2)."""


class UsageError(Exception):
    """A bad inventory, ``--limit``, ``--data`` or settings; nothing was touched."""
