"""How the verification suite learns each host's settings.

The runner writes ``{host: host_data}`` as JSON and names the file in
``PROVISION_VERIFY_SETTINGS``; without it, Docker's defaults apply.
"""

from __future__ import annotations

import functools
import json
import os

from provision.docker.settings import DockerSettings
from provision.docker.validation import from_host_data

ENV = "PROVISION_VERIFY_SETTINGS"
PARALLEL_ENV = "PROVISION_VERIFY_PARALLEL"


def host_data(host_name: str) -> dict:
    """The settings data of ``host_name`` (``*`` in the file applies to every host)."""
    path = os.environ.get(ENV)
    if not path:
        return {}
    stat = os.stat(path)
    data = _read(path, stat.st_mtime_ns, stat.st_size)
    return {**data.get("*", {}), **data.get(host_name, {})}


@functools.lru_cache(maxsize=1)
def _read(path: str, mtime_ns: int, size: int) -> dict:
    """The settings file, read once while it stays the same (not once per host)."""
    with open(path) as handle:
        return json.load(handle)


def settings_for(host_name: str) -> DockerSettings:
    """Docker settings of ``host_name`` (Docker's defaults without a settings file)."""
    return from_host_data(host_data(host_name), host_name)


def parallel() -> int | None:
    """How many hosts to probe at once (``PROVISION_VERIFY_PARALLEL``; default: all, capped)."""
    value = os.environ.get(PARALLEL_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None
