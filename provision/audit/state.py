"""A host as the audit's probe read it, parsed once: every check is a pure function of it.

Everything here came from the host and is untrusted: it is parsed, never executed, and only
ever shown clipped and escaped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from provision.docker.layout import DAEMON_JSON, DEFAULT_DATA_ROOT
from provision.verify.probe import Section, docker_info, files

DOCKERD = "/usr/bin/dockerd"
USR_MERGED = (("/lib/", "/usr/lib/"), ("/bin/", "/usr/bin/"), ("/sbin/", "/usr/sbin/"))


@dataclass(frozen=True)
class Stat:
    """A path's type (``find -printf %y``: f, d, s, l, ...), owner, group and octal mode."""

    kind: str
    owner: str
    group: str
    mode: int


def canonical(path: str) -> str:
    """``path`` as a merged-/usr host names it: /lib/x is /usr/lib/x, /var/run is /run."""
    if path.startswith("/var/run/"):
        path = path[len("/var") :]
    for old, new in USR_MERGED:
        if path.startswith(old):
            return new + path[len(old) :]
    return path


@dataclass
class HostState:
    """The probe's sections of one host, with the views the checks use."""

    sections: dict[str, Section]
    trusted_users: tuple[str, ...] = ()  # docker_users: who may be in the docker group

    def section(self, name: str) -> Section:
        return self.sections.get(name) or Section(127, b"")

    @cached_property
    def info(self) -> dict:
        """``docker info`` (empty when the daemon could not be reached)."""
        return docker_info(self.section("info"))

    @cached_property
    def files(self) -> dict:
        return files(self.section("files"))

    @cached_property
    def daemon_json(self) -> dict | None:
        """daemon.json as a mapping; ``None`` when there is none, ``{}`` when it is not JSON."""
        found = self.files.get(DAEMON_JSON)
        if found is None:
            return None
        try:
            data = json.loads(found.content)
        except (ValueError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    @cached_property
    def flags(self) -> dict[str, list[str]]:
        """dockerd's command-line options: ``{"hosts": [...], "icc": ["false"], ...}`` under
        daemon.json's names (``-H`` is ``hosts``, ``--tlsverify`` is ``["true"]``)."""
        section = self.section("dockerd")
        options: dict[str, list[str]] = {}
        if not section.ok:
            return options
        words = section.text.split("\n")[1:]
        index = 0
        while index < len(words):
            word = words[index]
            index += 1
            if not word.startswith("-"):
                continue
            name, equals, value = word.lstrip("-").partition("=")
            if name in ("H", "host"):
                name = "hosts"
            if not equals:
                if name in BOOLEAN_FLAGS:
                    value = "true"
                elif index < len(words):
                    value = words[index]
                    index += 1
            options.setdefault(FLAG_NAMES.get(name, name), []).append(value)
        return options

    def option(self, name: str):
        """daemon option ``name`` as daemon.json or the command line sets it (``None``: unset).
        Command-line values come as strings (``"false"``), lists for ``hosts``-like options."""
        config = self.daemon_json or {}
        if name in config:
            return config[name]
        values = self.flags.get(name)
        if not values:
            return None
        return values if name in LIST_OPTIONS else values[-1]

    def enabled(self, name: str) -> bool | None:
        """A boolean daemon option; ``None`` when neither daemon.json nor a flag sets it."""
        value = self.option(name)
        if value is None:
            return None
        return value is True or str(value).lower() == "true"

    @property
    def dockerd(self) -> str:
        """The daemon's program as the running process names it (Docker's packages install
        /usr/bin/dockerd, Debian's docker.io /usr/sbin/dockerd)."""
        section = self.section("dockerd")
        program = section.text.split("\n", 1)[0] if section.ok else ""
        return program if program.startswith("/") else DOCKERD

    @cached_property
    def stats(self) -> dict[str, Stat]:
        """``{path: Stat}`` of the paths the probe looked at that exist."""
        found = {}
        for entry in self.section("stat").output.split(b"\0"):
            parts = entry.decode(errors="replace").split(" ", 4)
            if len(parts) != 5 or not parts[3].isdigit():
                continue
            kind, owner, group, mode, path = parts
            found[path] = Stat(kind, owner, group, int(mode, 8))
        return found

    @cached_property
    def unit_paths(self) -> dict[str, str]:
        """``{"docker.service": FragmentPath, ...}`` as systemd reports them."""
        paths, unit = {}, None
        for line in self.section("units").text.splitlines():
            key, _, value = line.partition("=")
            if key == "Id":
                unit = value.strip()
            elif key == "FragmentPath" and unit and value.strip():
                paths[unit] = value.strip()
        return paths

    @cached_property
    def group_members(self) -> list[str] | None:
        """Members of the docker group (``None``: there is no such group)."""
        section = self.section("group")
        if not section.ok:
            return None
        fields = section.text.strip().split(":")
        return [m for m in fields[3].split(",") if m] if len(fields) >= 4 else []

    @cached_property
    def mounts(self) -> dict[str, tuple[str, str]]:
        """``{mount point: (source, fstype)}`` (findmnt's raw output; spaces come as \\x20)."""
        found = {}
        for line in self.section("mounts").text.splitlines():
            parts = line.split(" ")
            if len(parts) == 3:
                target = parts[0].encode().decode("unicode_escape", errors="replace")
                found[target] = (parts[1], parts[2])
        return found

    @property
    def data_root(self) -> str:
        return str(self.info.get("DockerRootDir") or DEFAULT_DATA_ROOT)

    @cached_property
    def audit_watches(self) -> tuple[set[str], str]:
        """The paths audit rules watch (``-w PATH``), canonical, and where they were read:
        the loaded rules (``auditctl -l``) when auditctl can list them, else the rules files."""
        listed = self.section("auditctl")
        if listed.ok:
            return _watched(listed.text), "loaded rules (auditctl -l)"
        return _watched(self.section("audit_rules").text), "rules files (auditctl cannot list)"

    @cached_property
    def containers(self) -> list[dict] | None:
        """``docker inspect`` of the running containers (``None``: they could not be listed)."""
        section = self.section("containers")
        if not section.ok:
            return None
        start = section.text.find("[")
        try:
            data = json.loads(section.text[start:]) if start >= 0 else None
        except ValueError:
            return None
        if not isinstance(data, list):
            return None
        return [c for c in data if isinstance(c, dict)]


def _watched(text: str) -> set[str]:
    """The paths of ``-w PATH`` rules in auditctl's syntax (comments and other rules ignored)."""
    paths = set()
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["-w"] and len(words) > 1:
            paths.add(canonical(words[1].rstrip("/") or "/"))
    return paths


BOOLEAN_FLAGS = {
    "tlsverify",
    "tls",
    "live-restore",
    "no-new-privileges",
    "experimental",
    "debug",
    "D",
    "selinux-enabled",
    "icc",
    "iptables",
    "ip-forward",
    "userland-proxy",
}
# dockerd flags whose daemon.json names differ
FLAG_NAMES = {
    "insecure-registry": "insecure-registries",
    "authorization-plugin": "authorization-plugins",
    "storage-opt": "storage-opts",
    "log-opt": "log-opts",
    "D": "debug",
    "l": "log-level",
}
LIST_OPTIONS = {"hosts", "insecure-registries", "authorization-plugins", "storage-opts"}
