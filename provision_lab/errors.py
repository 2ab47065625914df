"""Errors of the lab."""


class LabError(Exception):
    """A lab problem the user can act on."""
