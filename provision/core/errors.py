"""Errors that are the user's to fix (exit code 2), found before any host is touched."""

from provision.core import redact


class UsageError(Exception):
    """A bad inventory, ``--limit``, ``--data`` or settings; nothing was touched.;
    secrets in it are redacted."""

    def __init__(self, message: str):
        super().__init__(redact.text(message))


class SettingsError(Exception):
    """One or more settings are invalid; the message lists every problem.;
    secrets in it are redacted."""

    def __init__(self, message: str):
        super().__init__(redact.text(message))
