"""Errors of the Docker capability."""

from provision.core import redact


class SettingsError(Exception):
    """One or more settings are invalid; the message lists every problem.;
    secrets in it are redacted."""

    def __init__(self, message: str):
        super().__init__(redact.text(message))


class UnsupportedHostError(Exception):
    """The host's distribution or architecture has no Docker repository."""
