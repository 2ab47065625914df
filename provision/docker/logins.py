"""Credentials in URLs (``https://user:password@host/``), moved out of them: apt reads them from a
root-only ``auth.conf.d`` file, curl from a config on its standard input, and what is written
elsewhere (sources, apt's proxy setting, command lines) is the URL without them."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

AUTH_DIR = "/etc/apt/auth.conf.d"


def without_login(url: str) -> str:
    """``url`` without its ``user:password@`` part."""
    try:
        parts = urlsplit(url)
    except ValueError:  # no URL (settings refuse such values before any host is touched)
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def login(url: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of ``url`` (percent-decoded), ``None`` when it carries none."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return None
    if "@" not in parts.netloc:
        return None
    return unquote(parts.username or ""), unquote(parts.password or "")


def auth_conf(url: str | None) -> str | None:
    """apt's ``auth.conf`` entry (netrc-like) for the login in ``url``, ``None`` without one.

    The machine names the scheme: apt matches an entry without one only for https.
    """
    found = login(url)
    if found is None:
        return None
    user, password = found
    if any(char.isspace() or _control(char) for char in user + password) or not user:
        raise ValueError("a login for apt holds no white space or control character")
    return f"machine {without_login(url).rstrip('/')}\nlogin {user}\npassword {password}\n"


def curl_config(url: str, proxy: str | None = None) -> str:
    """A curl config (``curl -K -``) with the login in ``url`` and the ``proxy`` (with its own),
    so that neither appears on a command line: curl gets ``without_login(url)`` there."""
    lines = []
    found = login(url)
    if found:
        lines.append(f"user = {_quoted(':'.join(found))}")
    if proxy:
        lines.append(f"proxy = {_quoted(proxy)}")
    return "".join(f"{line}\n" for line in lines)


def _control(char: str) -> bool:
    """A C0 or C1 control character (NUL, CR, DEL, NEL ...): apt's and curl's files end a
    value or a line there, or cut it short."""
    return ord(char) < 32 or 127 <= ord(char) < 160


def _quoted(value: str) -> str:
    """A double-quoted curl config value (curl unescapes ``\\\\`` and ``\\"``)."""
    if any(map(_control, value)):
        raise ValueError("a URL for curl holds no control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
