"""Errors of the Docker capability."""


class SettingsError(Exception):
    """One or more settings are invalid; the message lists every problem."""


class UnsupportedHostError(Exception):
    """The host's distribution or architecture has no Docker repository."""
