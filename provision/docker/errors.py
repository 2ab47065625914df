"""Errors of the Docker capability."""


class UnsupportedHostError(Exception):
    """The host's distribution or architecture has no Docker repository."""
