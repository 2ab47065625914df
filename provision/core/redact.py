"""Redaction of secrets in everything shown or written: messages, tables, JSON, JUnit, diffs
and progress.

Two kinds of secret are recognised: the ``user:password@`` part of a URL, and the value of
anything named like a password, passphrase, secret or token (an inventory's ``ssh_password``,
a ``"token": …`` in a file). Both become ``***``. Values an inventory gives such names are
also remembered (``remember``), so they are masked wherever they turn up in text.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SHORTEST = 4  # shorter remembered values would mask ordinary words; URL and name rules remain
_known: set[str] = set()
SECRET_NAME = re.compile(r"pass(?:word|wd|phrase)|secret|token", re.IGNORECASE)
# scheme://userinfo@ : the userinfo ends at the first /, ?, # or white space (RFC 3986)
USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s\"'<>]+@")
# name=value, "name": "value", name: "value" where the name says it is a secret (a sentence's
# "password: that" is no assignment)
ASSIGNED = re.compile(
    r"(?P<name>[\w.-]*(?:pass(?:word|wd|phrase)|secret|token)[\w.-]*)"
    r"(?P<sep>[\"']?\s*=\s*[\"']?|[\"']\s*:\s*[\"']?|:\s*[\"'])(?P<value>[^\s\"',;}\]]+)",
    re.IGNORECASE,
)


def is_secret(name: object) -> bool:
    """Whether a setting or field called ``name`` holds a secret."""
    return isinstance(name, str) and bool(SECRET_NAME.search(name))


def remember(data: Any, name: object = None) -> None:
    """Remember the secret values in ``data`` (host data: values of secret-named keys)."""
    if isinstance(data, dict):
        for key, item in data.items():
            remember(item, key)
    elif isinstance(data, (list, tuple)):
        for item in data:
            remember(item, name)
    elif is_secret(name) and isinstance(data, (str, int)) and len(str(data)) >= SHORTEST:
        _known.add(str(data))


def text(value: str) -> str:
    """``value`` with remembered secrets, URL credentials and assigned secrets replaced by
    ``***``."""
    for secret in sorted(_known, key=len, reverse=True):
        value = value.replace(secret, MASK)
    value = USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", value)
    return ASSIGNED.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", value)


def value(name: object, data: Any) -> Any:
    """``data`` of a field called ``name``: all of it masked when the name says secret."""
    return MASK if is_secret(name) and data not in (None, "") else redacted(data)


def redacted(data: Any) -> Any:
    """A copy of ``data`` (JSON-like) with every secret masked, keys and texts alike."""
    if isinstance(data, str):
        return text(data)
    if isinstance(data, dict):
        return {key: value(key, item) for key, item in data.items()}
    if isinstance(data, (list, tuple)):
        return [redacted(item) for item in data]
    return data
