"""Which of the files the deploy writes were written by this project (no pyinfra needed).

A file in one of those places that this project did not write (a hand-written daemon.json, a
proxy drop-in made from Docker's docs) is backed up beside itself before its first change; one
with a backup beside it was taken over before. What this project writes has one form each:
daemon.json as ``daemon_json`` prints it, the proxy files as ``daemon`` renders them.
"""

from __future__ import annotations

import json
import re

from .layout import APT_PROXY, DAEMON_JSON, PROXY_DROPIN

APT_PROXY_LINE = re.compile(r'^Acquire::https?::Proxy "[^"\n]*";\Z')
DROPIN_LINE = re.compile(r'^Environment="(HTTP_PROXY|HTTPS_PROXY|NO_PROXY)=[^"\n]*"\Z')


def written_here(path: str, content: bytes) -> bool:
    """Whether ``content`` at ``path`` has the form this project writes there."""
    try:
        text = content.decode()
    except UnicodeDecodeError:
        return False
    lines = text.splitlines()
    if not text.endswith("\n"):
        return False
    if path == DAEMON_JSON:
        try:
            found = json.loads(text)
        except ValueError:
            return False
        return (
            isinstance(found, dict) and text == json.dumps(found, indent=2, sort_keys=True) + "\n"
        )
    if path == APT_PROXY:
        return bool(lines) and all(APT_PROXY_LINE.match(line) for line in lines)
    if path == PROXY_DROPIN:
        return lines[:1] == ["[Service]"] and all(DROPIN_LINE.match(line) for line in lines[1:])
    return False
