"""What the Docker daemon is told, from the settings and the installed engine (no pyinfra needed).

``daemon.json`` merges the settings made for it (log driver and options, registry mirrors,
insecure registries, data root, live restore, proxies, ``docker_hardening``'s options) with
``docker_daemon_options``, which wins. Engines before 23.0 do not read ``proxies`` from
``daemon.json``; they get a systemd drop-in instead.
"""

from __future__ import annotations

import json
import re

from .hardening import hardened_options
from .layout import DAEMON_JSON, DEFAULT_DATA_ROOT, PROXY_DROPIN  # noqa: F401 (re-exported)
from .logins import auth_conf, login, proxy_conf
from .settings import DockerSettings

PROXIES_IN_DAEMON_JSON = 23  # the first engine that reads "proxies" from daemon.json
PROXY_KEYS = {"http": "http-proxy", "https": "https-proxy", "no_proxy": "no-proxy"}
PROXY_ENV = {"http": "HTTP_PROXY", "https": "HTTPS_PROXY", "no_proxy": "NO_PROXY"}


def engine_major(version: str | None) -> int | None:
    """The major Docker version of a Debian version string (``5:26.1.5-1~…`` is 26)."""
    match = re.match(r"^(?:\d+:)?(\d+)\.", version or "")
    return int(match.group(1)) if match else None


def proxies_in_daemon_json(version: str | None) -> bool:
    """Whether the engine ``version`` reads ``proxies`` from daemon.json (unknown: a new one)."""
    major = engine_major(version)
    return major is None or major >= PROXIES_IN_DAEMON_JSON


def daemon_config(settings: DockerSettings, engine_version: str | None) -> dict:
    """The contents of daemon.json for ``settings`` on an engine of ``engine_version``."""
    config: dict = {"log-driver": settings.docker_log_driver}
    if settings.log_opts():
        config["log-opts"] = settings.log_opts()
    if settings.docker_registry_mirrors:
        config["registry-mirrors"] = list(settings.docker_registry_mirrors)
    if settings.docker_insecure_registries:
        config["insecure-registries"] = list(settings.docker_insecure_registries)
    if settings.docker_data_root:
        config["data-root"] = settings.docker_data_root
    if settings.docker_live_restore:  # containers keep running while the daemon restarts
        config["live-restore"] = True
    if settings.docker_proxy and proxies_in_daemon_json(engine_version):
        config["proxies"] = {PROXY_KEYS[key]: value for key, value in settings.proxy().items()}
    return {**config, **hardened_options(settings), **dict(settings.docker_daemon_options)}


def unmanaged(original: dict, config: dict) -> dict:
    """The keys of a daemon.json this project took over (``original``) that ``config``, what
    the settings write, does not set: a ``bip``, a ``dns`` someone set for a reason."""
    return {key: value for key, value in original.items() if key not in config}


def data_root(config: dict) -> str:
    """The data root a daemon.json's ``config`` gives the daemon."""
    return str(config.get("data-root") or DEFAULT_DATA_ROOT)


def daemon_json(options: dict) -> str:
    """The daemon.json text for ``options`` (stable order, so reruns compare equal)."""
    return json.dumps(options, indent=2, sort_keys=True) + "\n"


def proxy_dropin(settings: DockerSettings, engine_version: str | None) -> str | None:
    """The systemd drop-in giving an engine before 23.0 its proxy; ``None`` when not needed."""
    if not settings.docker_proxy or proxies_in_daemon_json(engine_version):
        return None
    lines = [  # systemd expands % specifiers: a literal % is %%
        f'Environment="{PROXY_ENV[key]}={value.replace("%", "%%")}"'
        for key, value in settings.proxy().items()
    ]
    return "[Service]\n" + "\n".join(lines) + "\n"


def mode(settings: DockerSettings, config: dict | None = None) -> str:
    """The mode of the proxy drop-in, or of ``daemon.json`` holding ``config``: root's alone
    (0600) when it holds a ``docker_proxy`` URL that carries a login, 0644 otherwise."""
    if config is not None and "proxies" not in config:
        return "0644"
    proxies = (settings.docker_proxy.get(key) for key in ("http", "https"))
    return "0600" if any(login(url) for url in proxies if isinstance(url, str)) else "0644"


def apt_proxy_conf(settings: DockerSettings) -> str | None:
    """apt's proxy configuration for ``apt_proxy``; ``None`` when apt goes direct."""
    return proxy_conf(settings.apt_proxy)  # its login goes to apt_proxy_login


def apt_proxy_login(settings: DockerSettings) -> str | None:
    """apt's auth.conf.d entry for the login in ``apt_proxy`` (root's alone, mode 600)."""
    return auth_conf(settings.apt_proxy)
