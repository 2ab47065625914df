"""Credentials in URLs (``https://user:password@host/``), moved out of them: apt reads them from a
root-only ``auth.conf.d`` file (a throwaway one, filled from standard input, when the host
fetches something before the run wrote its own), and what is written elsewhere (sources, apt's
proxy setting, command lines) is the URL without them."""

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


def _control(char: str) -> bool:
    """A C0 or C1 control character (NUL, CR, DEL, NEL ...): apt's files end a value or a line
    there, or cut it short."""
    return ord(char) < 32 or 127 <= ord(char) < 160


def proxy_conf(proxy: str | None) -> str | None:
    """apt's configuration sending its requests through ``proxy`` (its login left out: that
    goes to ``auth_conf``); ``None`` when apt goes direct."""
    if not proxy:
        return None
    bare = without_login(proxy)
    return f'Acquire::http::Proxy "{bare}";\nAcquire::https::Proxy "{bare}";\n'
