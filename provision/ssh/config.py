"""OpenSSH client configuration, rendered from host data (the lab's and verification's).

Every value is checked against a strict grammar and quoted here, so host data can neither add
a line nor an option to the file, nor reach a shell through the commands OpenSSH builds from
it (``ProxyJump``, a user's ``ProxyCommand`` with ``%h``): host names, users, ports and jump
hosts must look like what they are; other values refuse control characters, Unicode line
separators and quotes, values with spaces are double-quoted and ``%`` is doubled where OpenSSH
expands ``%`` tokens. ``connection_problems`` applies the same grammar when an inventory is
loaded, so a bad value is one sentence before any host is contacted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

# options whose values OpenSSH expands %-tokens in (ssh_config(5), "TOKENS")
TOKEN_OPTIONS = {"HostName", "IdentityFile", "UserKnownHostsFile", "ControlPath"}
# C0 and C1 controls, DEL, Unicode line and paragraph separators, quotes and backslashes
FORBIDDEN_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FORBIDDEN = re.compile(FORBIDDEN_CONTROL.pattern[:-1] + r"\"'\\]")
ALIAS = re.compile(r"[A-Za-z0-9_.:@\[\]][A-Za-z0-9_.:@\[\]-]*")
LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})"
# the last label is not all digits (RFC 3696 2): "0" and "1.2.3" are no names
DNS_NAME = re.compile(rf"(?:{LABEL}\.)*(?![0-9]+\.?$){LABEL}\.?")
USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
HOP = re.compile(
    r"(?:ssh://)?(?:(?P<user>[^@]+)@)?(?P<host>\[[^\]]+\]|[^:@\[\]]+)(?::(?P<port>\d+))?"
)
FLAGS = {"yes", "no", "ask", "accept-new", "off", "true", "false"}
# host data -> the OpenSSH option reproducing it (how pyinfra connects)
CONNECTION_OPTIONS = {
    "ssh_hostname": "HostName",
    "ssh_user": "User",
    "ssh_port": "Port",
    "ssh_key": "IdentityFile",
    "ssh_known_hosts_file": "UserKnownHostsFile",
    "ssh_strict_host_key_checking": "StrictHostKeyChecking",
    "ssh_proxy_jump": "ProxyJump",
}
FAST_KEX = "ssh_prefer_curve25519"  # opt-in: verification prefers curve25519 key exchange


class Tokens(str):
    """A value whose ``%`` tokens OpenSSH is to expand (``%C``); checked like any other."""


class SSHConfigError(ValueError):
    """A value that cannot be written into an OpenSSH config; the message names it."""

    def __init__(self, option: str, value: object, reason: str):
        super().__init__(f"{option} {value!r} {reason}")
        self.reason = reason


def is_host(text: str) -> bool:
    """A DNS name, an IPv4 or an IPv6 address (never a word starting with ``-``)."""
    if len(text) <= 253 and DNS_NAME.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) < 65536


def _hops(text: str) -> bool:
    """``[ssh://][user@]host[:port]``, comma-separated (an IPv6 host in brackets), or ``none``."""
    if text.lower() == "none":  # OpenSSH reads any spelling as no jump host
        return text == "none"
    for hop in text.split(","):
        match = HOP.fullmatch(hop)
        if not match:
            return False
        host, user, port = match["host"], match["user"], match["port"]
        if host.startswith("["):
            host = host[1:-1]
            if ":" not in host or not is_host(host):
                return False
        if not is_host(host) or (user and not USER.fullmatch(user)):
            return False
        if port and not _port(port):
            return False
    return True


GRAMMAR = {
    "HostName": (is_host, "is not a host name or IP address"),
    "User": (USER.fullmatch, "is not a user name (letters, digits, _ . -)"),
    "Port": (_port, "is not a port number (1-65535)"),
    "ProxyJump": (_hops, "is not a comma-separated list of [user@]host[:port] jump hosts"),
    "StrictHostKeyChecking": (lambda t: t.lower() in FLAGS, "is not yes, no or accept-new"),
}


def quote(option: str, value: object) -> str:
    """``value`` as one OpenSSH config word for ``option``; ``SSHConfigError`` when its
    grammar refuses it."""
    if isinstance(value, bool):
        value = "yes" if value else "no"
    text = str(value)
    if not text or FORBIDDEN.search(text):
        raise SSHConfigError(
            option, text, "is empty or holds a quote, backslash or control character"
        )
    if option in GRAMMAR:
        accepts, reason = GRAMMAR[option]
        if not accepts(text):
            raise SSHConfigError(option, text, reason)
    if option in TOKEN_OPTIONS and not isinstance(value, Tokens):
        text = text.replace("%", "%%")
    return f'"{text}"' if re.search(r"[\s#=]", text) else text


def host_block(alias: str, options: Mapping[str, object]) -> str:
    """A ``Host alias`` block (``*``: every host) with ``options``; ``None`` and empty values
    are left out."""
    if alias != "*" and not ALIAS.fullmatch(alias):
        raise SSHConfigError("host name", alias, "cannot name an OpenSSH Host block")
    lines = [f"Host {alias}"]
    for option, value in options.items():
        if value is not None and value != "":
            lines.append(f"  {option} {quote(option, value)}")
    return "\n".join(lines) + "\n"


def connection_options(name: str, data: Mapping[str, object]) -> dict[str, object]:
    """The OpenSSH options of a host named ``name`` with host data ``data``."""
    options = {option: data.get(key) for key, option in CONNECTION_OPTIONS.items()}
    options["HostName"] = options["HostName"] or name
    return options


def connection_problems(name: str, data: Mapping[str, object]) -> list[str]:
    """One sentence per connection value of host ``name`` that ``host_block`` would refuse."""
    problems = []
    if not ALIAS.fullmatch(name):
        problems.append(
            f"host {name!r} cannot be reached by that name through OpenSSH "
            "(letters, digits and . _ - : @ [ ], not starting with -); rename it"
        )
    for key, option in CONNECTION_OPTIONS.items():
        value = data.get(key)
        if key == "ssh_hostname" and not value:
            value = name
        if value is None or value == "":
            continue
        try:
            quote(option, value)
        except SSHConfigError as error:
            problems.append(f"host {name}: {key} {str(value)!r} {error.reason}; fix its value")
    if data.get(FAST_KEX) not in (None, True, False):
        problems.append(f"host {name}: {FAST_KEX} must be true or false, got {data[FAST_KEX]!r}")
    return problems
