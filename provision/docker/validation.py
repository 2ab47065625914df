"""Validation of the Docker deploy's settings, read from host data.

``from_host_data`` checks the keys group by group (strings, lists, choices, versions, URLs,
proxies, logging, daemon options, users) and collects every problem of a host before anything
is touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provision.core.errors import SettingsError

from .logins import auth_conf
from .settings import (
    CHANNELS,
    DEFAULT_PACKAGES,
    DOCKER_FINGERPRINT,
    PINNED_PACKAGES,
    SETTING_NAMES,
    DockerSettings,
)

PACKAGE_STATES = ("present", "latest")
SERVICE_STATES = ("started", "stopped")
# a partial release (27.5), a whole one (27.5.1) or a full Debian version string
VERSION_RE = re.compile(r"^(\d+:)?\d+\.\d+(\.\d+)?\Z|^(\d+:)?\d+\.\d+\.\d+[-~+][-~+.:A-Za-z0-9]*\Z")
IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*\Z")
# what a URL may hold: no quote, backquote, $, backslash, white space or control character
URL_RE = re.compile(r"^(https?|file)://[^\s'\"`$\\\x00-\x1f\x7f]+\Z")
LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST_RE = re.compile(rf"^(?:{LABEL}(?:\.{LABEL})*\.?|\[[0-9A-Fa-f:.]+\])\Z")  # name, IPv4, [IPv6]
PORT_RE = re.compile(r"^[0-9]{1,5}\Z")
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+\Z")  # Debian policy 5.6.1
SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
NO_PROXY_RE = re.compile(r"^[A-Za-z0-9.,:*/_\[\]-]+\Z")
REGISTRY_RE = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[0-9]+)?\Z")  # host[:port] or a CIDR
PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]*\Z")
ARCH_RE = re.compile(r"^[a-z0-9]+\Z")  # a Debian architecture: amd64, arm64, armhf, ...
CODENAME_RE = re.compile(r"^[a-z][a-z0-9.-]*\Z")  # bookworm, noble, ...
# settings that are one string (docker_version may also be written as a number)
STRING_SETTINGS = (
    "docker_packages_state",
    "docker_channel",
    "docker_repo_url",
    "docker_gpg_key_url",
    "docker_gpg_fingerprint",
    "docker_distro",
    "docker_codename",
    "docker_arch",
    "docker_log_driver",
    "docker_data_root",
    "apt_proxy",
    "docker_service_state",
    "docker_verify_image",
    "docker_verify_image_url",
    "docker_verify_image_sha256",
    "docker_verify_output",
)
# The type of well-known daemon.json options (dockerd --validate checks the rest on the host)
DAEMON_OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "bip": str,
    "data-root": str,
    "debug": bool,
    "default-address-pools": list,
    "dns": list,
    "exec-opts": list,
    "experimental": bool,
    "features": dict,
    "hosts": list,
    "insecure-registries": list,
    "ip-forward": bool,
    "iptables": bool,
    "ipv6": bool,
    "live-restore": bool,
    "log-driver": str,
    "log-level": str,
    "log-opts": dict,
    "max-concurrent-downloads": int,
    "max-concurrent-uploads": int,
    "mtu": int,
    "registry-mirrors": list,
    "storage-driver": str,
    "tls": bool,
    "tlscacert": str,
    "tlscert": str,
    "tlskey": str,
    "tlsverify": bool,
    "userns-remap": str,
}
TYPE_WORDS = {
    bool: "true or false",
    int: "a whole number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}
# geerlingguy.docker names that mean something else here
ROLE_NAMES = {
    "docker_apt_release_channel": "docker_channel",
    "docker_apt_gpg_key": "docker_gpg_key_url",
    "docker_apt_gpg_key_checksum": "docker_gpg_fingerprint",
    "docker_apt_arch": "docker_arch",
    "docker_apt_repository": "docker_repo_url",
    "docker_install_compose": "docker_packages",
    "docker_install_compose_plugin": "docker_packages",
    "docker_compose_package": "docker_packages",
    "docker_edition": "docker_packages",
}
CHECK_ID_RE = re.compile(r"^[0-9]+(\.[0-9]+){1,2}\Z")  # a benchmark number: 2.14, 1.1.3
NAME_RE = re.compile(r"^[a-z_][a-z0-9_.-]*\$?\Z")
USER_LISTS = ("docker_users", "docker_rootless_users")


def from_host_data(data: Mapping[str, Any], host: str = "host") -> DockerSettings:
    """Build settings from a host's data (unknown keys are ignored); raise all problems at once."""
    values = {name: data[name] for name in SETTING_NAMES if data.get(name) is not None}
    problems: list[str] = [_unknown(name) for name in data if _is_unknown(name)]
    for name in STRING_SETTINGS:
        if name in values and not isinstance(values[name], str):
            problems.append(
                f"{name} must be a string, got {_kind(values[name])} {values.pop(name)!r}"
            )
    if "docker_version" in values and not isinstance(values["docker_version"], (str, int, float)):
        problems.append(f"docker_version must be a string, got {values.pop('docker_version')!r}")
    for name in (
        "docker_packages",
        "docker_obsolete_packages",
        *USER_LISTS,
        "docker_registry_mirrors",
        "docker_insecure_registries",
    ):
        if name in values:
            values[name] = _string_list(values[name], name, problems)
    for name in ("docker_packages", "docker_obsolete_packages"):
        bad = [p for p in values.get(name, ()) if not PACKAGE_RE.fullmatch(p)]
        if bad:
            problems.append(f"{name} has invalid package names: {', '.join(map(repr, bad))}")
    for name in (
        "docker_hold",
        "docker_service_enabled",
        "docker_purge_data",
        "docker_data_root_force",
        "docker_daemon_json_keep_unmanaged",
        "docker_live_restore",
        "docker_hardening",
        "docker_audit_rules",
    ):
        if name in values and not isinstance(values[name], bool):
            problems.append(f"{name} must be true or false, got {values[name]!r}")
    _check_choice(values, "docker_channel", CHANNELS, problems)
    _check_choice(values, "docker_packages_state", PACKAGE_STATES, problems)
    _check_choice(values, "docker_service_state", SERVICE_STATES, problems)
    _check_choice(values, "docker_distro", ("ubuntu", "debian", "raspbian"), problems)
    _check_versions(values, problems)
    check_fingerprint(values, "docker_gpg_fingerprint", DOCKER_FINGERPRINT, problems)
    check_urls(
        values, ("docker_repo_url", "docker_gpg_key_url", "docker_verify_image_url"), problems
    )
    check_urls(values, ("apt_proxy",), problems, web_only=True)
    for name in ("docker_repo_url", "apt_proxy"):
        try:
            auth_conf(values.get(name) if isinstance(values.get(name), str) else None)
        except ValueError:
            problems.append(
                f"{name} carries a login apt cannot use: it must name a user, and neither "
                "user nor password may hold white space or control characters (also not as "
                "%20 or %00)"
            )
    for url in values.get("docker_registry_mirrors", ()):
        _check_url("docker_registry_mirrors", url, problems, web_only=True)
    bad = [r for r in values.get("docker_insecure_registries", ()) if not REGISTRY_RE.fullmatch(r)]
    if bad:
        problems.append(
            "docker_insecure_registries must hold host[:port] names or CIDRs, got "
            + ", ".join(map(repr, bad))
        )
    _check_proxy(values, problems)
    _check_waivers(values, problems)
    _check_logging(values, problems)
    for name, pattern, what in (
        ("docker_arch", ARCH_RE, "a Debian architecture such as amd64"),
        ("docker_codename", CODENAME_RE, "a release codename such as bookworm"),
    ):
        if name in values and not pattern.fullmatch(values[name]):
            problems.append(f"{name} must be {what}, got {values[name]!r}")
    if "docker_data_root" in values:
        values["docker_data_root"] = _data_root(
            "docker_data_root", values["docker_data_root"], problems
        )
    if "docker_verify_image_sha256" in values:
        digest = str(values["docker_verify_image_sha256"]).lower().removeprefix("sha256:")
        values["docker_verify_image_sha256"] = digest
        if not SHA256_RE.fullmatch(digest):
            problems.append(f"docker_verify_image_sha256 must be 64 hex digits, got {digest!r}")
    if not isinstance(values.get("docker_verify_output", ""), str):
        problems.append("docker_verify_output must be a string")
    options = values.get("docker_daemon_options", {})
    if not isinstance(options, Mapping):
        problems.append(f"docker_daemon_options must be a mapping, got {type(options).__name__}")
    else:
        problems.extend(_daemon_option_problems(options))
        if isinstance(options.get("data-root"), str):
            name = "docker_daemon_options['data-root']"
            root = _data_root(name, options["data-root"], problems)
            values["docker_daemon_options"] = {**options, "data-root": root}
    timeout = values.get("docker_apt_lock_timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
        problems.append(
            f"docker_apt_lock_timeout must be a whole number of seconds, got {timeout!r}"
        )
    for name in USER_LISTS:
        bad_users = [user for user in values.get(name, ()) if not NAME_RE.fullmatch(user)]
        if bad_users:
            problems.append(f"{name} has invalid user names: {', '.join(map(repr, bad_users))}")
    if "root" in values.get("docker_rootless_users", ()):
        problems.append("docker_rootless_users cannot name root: root runs the system daemon")
    problems.extend(_conflicts(values))
    image = str(values.get("docker_verify_image", "hello-world"))
    if not IMAGE_RE.fullmatch(image):
        problems.append(f"docker_verify_image must be an image reference, got {image!r}")
    if problems:
        raise SettingsError(f"{host}: " + "; ".join(problems) + ".")
    return DockerSettings(**values)


def _check_versions(values: dict, problems: list[str]) -> None:
    """``docker_version`` and ``docker_package_versions``: strings of ``VERSION_RE`` (a number
    would lose digits: 27.10 is 27.1)."""
    wanted = {}
    if "docker_version" in values:
        wanted["docker_version"] = values["docker_version"]
    own = values.get("docker_package_versions", {})
    if not isinstance(own, Mapping):
        problems.append(f"docker_package_versions must map package names to versions, got {own!r}")
        own = {}
    packages = values.get("docker_packages", DEFAULT_PACKAGES)
    for name in own:
        if name in PINNED_PACKAGES:
            problems.append(
                f"docker_package_versions cannot pin {name}: docker_version pins the engine's "
                f"packages ({', '.join(PINNED_PACKAGES)}) together"
            )
        elif name not in packages:
            problems.append(f"docker_package_versions names {name!r}, which docker_packages lacks")
        wanted[f"docker_package_versions[{name!r}]"] = own[name]
    for name, version in wanted.items():
        if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
            problems.append(
                f"{name} must look like 27.5 (the newest 27.5.x), 27.5.1 or a full version "
                f"string, written as a string, got {version!r}"
            )


def _conflicts(values: dict) -> list[str]:
    """Settings valid alone that contradict each other or say nothing."""
    problems = []
    both = sorted(
        set(values.get("docker_users", ())) & set(values.get("docker_rootless_users", ()))
    )
    if both:
        problems.append(
            f"{', '.join(both)} in both docker_users and docker_rootless_users; a user gets the "
            "system daemon (docker group) or a rootless one of their own, not both"
        )
    if "docker_packages" in values and not values["docker_packages"]:
        problems.append("docker_packages is empty; leave it out for Docker's packages")
    if "docker_verify_image_sha256" in values and not values.get("docker_verify_image_url"):
        problems.append(
            "docker_verify_image_sha256 needs docker_verify_image_url, the archive it checks"
        )
    return problems


def _data_root(name: str, root: str, problems: list[str]) -> str:
    """``root`` as an absolute path without ``.`` or ``..`` steps, repeated or trailing
    slashes (so what dockerd is given is what verify compares with)."""
    steps = root.split("/")
    if not PATH_RE.fullmatch(root) or any(step in (".", "..") for step in steps):
        problems.append(f"{name} must be an absolute path without . or .. steps, got {root!r}")
        return root
    normal = "/" + "/".join(step for step in steps if step)
    if normal == "/":
        problems.append(f"{name} cannot be the root directory, got {root!r}")
    return normal


def _kind(value: Any) -> str:
    """``a list``, ``a mapping``, ``a whole number``: what ``value`` is, in words."""
    for kind, word in TYPE_WORDS.items():
        if isinstance(value, kind):
            return word
    return f"a {type(value).__name__}"


def check_fingerprint(values: dict, name: str, default: str, problems: list[str]) -> None:
    """``values[name]`` as an OpenPGP fingerprint without spaces, upper case."""
    fingerprint = str(values.get(name, default)).replace(" ", "").upper()
    if not re.fullmatch(r"[0-9A-F]{40}|[0-9A-F]{64}", fingerprint):
        problems.append(f"{name} must be 40 (or 64) hex digits, got {fingerprint!r}")
    values[name] = fingerprint


def check_urls(
    values: dict, names: tuple[str, ...], problems: list[str], web_only: bool = False
) -> None:
    """The URLs among ``values`` named ``names``, without a trailing ``/``."""
    for name in names:
        if name in values:
            values[name] = str(values[name]).rstrip("/")
            _check_url(name, values[name], problems, web_only)


def _check_url(name: str, url: Any, problems: list[str], web_only: bool = False) -> None:
    """A URL a shell may see (quoted): http(s), or also file:// unless ``web_only`` (a proxy
    or a registry mirror is a server)."""
    if not isinstance(url, str) or not URL_RE.fullmatch(url):
        kinds = "an http(s)://" if web_only else "an http(s):// or file://"
        problems.append(
            f"{name} must be {kinds} URL without quotes, backquotes, "
            f"$, backslashes, white space or control characters, got {url!r}"
        )
    elif not _server_ok(url):
        problems.append(
            f"{name} must name its server as a host name, an IPv4 address or an [IPv6] address "
            f"with an optional port from 1 to 65535 (file:// URLs name none), got {url!r}"
        )
    elif web_only and not url.startswith(("http://", "https://")):
        problems.append(f"{name} must be an http:// or https:// URL (a server), got {url!r}")


def _server_ok(url: str) -> bool:
    """The part of ``url`` between ``//`` and the path is ``[login@]host[:port]``, the host by
    its strict grammar (nothing that another reader could split elsewhere), and none at all
    for a ``file://`` URL."""
    scheme, _, rest = url.partition("://")
    server = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if scheme == "file":
        return server in ("", "localhost")
    address = server.rpartition("@")[2]
    if address.startswith("["):
        host, bracket, after = address.partition("]")
        host += bracket
        if after and not after.startswith(":"):
            return False
        port = after[1:] if after else None
    else:
        host, colon, port = address.partition(":")
        port = port if colon else None
    if port is not None and not (PORT_RE.fullmatch(port) and 0 < int(port) < 65536):
        return False
    return bool(HOST_RE.fullmatch(host))


def _check_proxy(values: dict, problems: list[str]) -> None:
    proxy = values.get("docker_proxy", {})
    if not isinstance(proxy, Mapping):
        problems.append(f"docker_proxy must be a mapping of http, https, no_proxy, got {proxy!r}")
        return
    unknown = sorted(set(proxy) - {"http", "https", "no_proxy"})
    if unknown:
        problems.append(f"docker_proxy knows http, https and no_proxy, not {', '.join(unknown)}")
    for key in ("http", "https"):
        if proxy.get(key) is not None:
            _check_url(f"docker_proxy[{key!r}]", proxy[key], problems, web_only=True)
    no_proxy = proxy.get("no_proxy")
    if isinstance(no_proxy, (list, tuple)):
        no_proxy = ",".join(map(str, no_proxy))
    if no_proxy is not None and not (isinstance(no_proxy, str) and NO_PROXY_RE.fullmatch(no_proxy)):
        problems.append(
            f"docker_proxy['no_proxy'] must list host names, domains or CIDRs, got {no_proxy!r}"
        )


def _check_waivers(values: dict, problems: list[str]) -> None:
    waivers = values.get("docker_audit_waivers", {})
    if not isinstance(waivers, Mapping) or not all(
        isinstance(k, str) and CHECK_ID_RE.fullmatch(k) and isinstance(v, str) and v.strip()
        for k, v in waivers.items()
    ):
        problems.append(
            "docker_audit_waivers must map benchmark check numbers to reasons, "
            f'e.g. {{"2.9": "images need root"}}, got {waivers!r}'
        )


def _check_logging(values: dict, problems: list[str]) -> None:
    driver = values.get("docker_log_driver", "json-file")
    if not isinstance(driver, str) or not NAME_RE.fullmatch(driver):
        problems.append(f"docker_log_driver must be a log driver's name, got {driver!r}")
    opts = values.get("docker_log_opts")
    if opts is not None and (
        not isinstance(opts, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in opts.items())
    ):
        problems.append(f"docker_log_opts must map option names to strings, got {opts!r}")


# host data of pyinfra's own docker connectors, not settings of this deploy
CONNECTOR_NAMES = {"docker_architecture", "docker_identifier", "docker_platform"}


def _daemon_option_problems(options: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, value in options.items():
        wanted = DAEMON_OPTION_TYPES.get(key)
        wrong_bool = isinstance(value, bool) and wanted is int
        if wanted and (not isinstance(value, wanted) or wrong_bool):
            problems.append(
                f"docker_daemon_options[{key!r}] must be {TYPE_WORDS[wanted]}, got {value!r}"
            )
    if isinstance(options.get("log-opts"), Mapping):
        bad = [k for k, v in options["log-opts"].items() if not isinstance(v, str)]
        if bad:
            problems.append(f"docker_daemon_options['log-opts'] values must be strings: {bad}")
    return problems


def _is_unknown(name) -> bool:
    return (
        isinstance(name, str)
        and name.startswith("docker_")
        and name not in SETTING_NAMES
        and name not in CONNECTOR_NAMES
    )


def _unknown(name: str) -> str:
    """A sentence for a setting name that does not exist, with the likely one."""
    import difflib

    better = ROLE_NAMES.get(name) or next(
        iter(difflib.get_close_matches(name, SETTING_NAMES, 1, 0.8)), None
    )
    return f"{name} is not a setting" + (f" (did you mean {better}?)" if better else "")


def _string_list(value: Any, name: str, problems: list[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{name} must be a list of names, got {value!r}")
        return ()
    return tuple(value)


def _check_choice(values: dict, name: str, choices: tuple[str, ...], problems: list[str]) -> None:
    if name in values and values[name] not in choices:
        problems.append(f"{name} must be one of {', '.join(choices)}, got {values[name]!r}")
