"""Errors of the lab."""

from provision.core.errors import UsageError


class LabError(UsageError):
    """A lab problem the user can act on (one line, exit code 2)."""
