"""OpenSSH client configuration, rendered from host data (the lab's and verification's).

Every value is checked and quoted here, so host data can neither add a line nor an option to
the file: control characters and quotes are refused, values with spaces are double-quoted and
``%`` is doubled where OpenSSH expands ``%`` tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# options whose values OpenSSH expands %-tokens in (ssh_config(5), "TOKENS"); User does only
# in newer releases, so a % there is refused
TOKEN_OPTIONS = {"HostName", "IdentityFile", "UserKnownHostsFile", "ControlPath"}
FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\"'\\]")
ALIAS = re.compile(r"[A-Za-z0-9_.:@\[\]-]+")


class Tokens(str):
    """A value whose ``%`` tokens OpenSSH is to expand (``%C``); checked like any other."""


class SSHConfigError(ValueError):
    """A value that cannot be written into an OpenSSH config; the message names it."""


def quote(option: str, value: object) -> str:
    """``value`` as one OpenSSH config word for ``option``."""
    text = str(value)
    if not text or FORBIDDEN.search(text) or (option == "User" and "%" in text):
        raise SSHConfigError(
            f"{option} {text!r} is empty or holds a quote, backslash or control character"
            + (" (or %)" if option == "User" else "")
        )
    if option in TOKEN_OPTIONS and not isinstance(value, Tokens):
        text = text.replace("%", "%%")
    return f'"{text}"' if re.search(r"[\s#=]", text) else text


def host_block(alias: str, options: Mapping[str, object]) -> str:
    """A ``Host alias`` block (``*``: every host) with ``options``; ``None`` and empty values
    are left out."""
    if alias != "*" and not ALIAS.fullmatch(alias):
        raise SSHConfigError(f"host name {alias!r} cannot name an OpenSSH Host block")
    lines = [f"Host {alias}"]
    for option, value in options.items():
        if value is not None and value != "":
            lines.append(f"  {option} {quote(option, value)}")
    return "\n".join(lines) + "\n"
