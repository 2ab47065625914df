"""Loading pyinfra inventory files and selecting hosts, with errors that name file and line."""

from __future__ import annotations

import fnmatch
import os
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyinfra.api import Inventory
from pyinfra.api.exceptions import ConnectorDataTypeError
from pyinfra.api.host import Host

from provision.core import redact
from provision.core.compat import (
    connector_data_types,
    fresh_run,
    make_inventory,
    over_ssh,
    raise_if_bad_type,
)
from provision.core.errors import SettingsError, UsageError
from provision.ssh.config import FORBIDDEN_CONTROL, connection_problems

from .hostnames import grouped


@dataclass
class Fleet:
    """An inventory and the hosts selected from it."""

    path: str
    inventory: Inventory
    hosts: list[Host]
    notes: list[str] = field(default_factory=list)

    def for_run(self) -> Fleet:
        """This fleet with its hosts' per-run pyinfra state cleared, so it can run again."""
        for host in self.hosts:
            fresh_run(host)
        return self

    def settings(self, checks: Sequence[Callable[[dict, str], object]]) -> dict[str, object]:
        """Every selected host's settings as the first of ``checks(data, host_name)`` gives
        them (a profile's: Docker's, then its own); every problem of every host at once.

        A check raises ``SettingsError``; the settings' ``warnings()`` become the fleet's notes.
        """
        result, problems = {}, []
        for host in self.hosts:
            data, found = host.data.dict(), []
            for check in checks:  # one check's problems do not hide another's
                try:
                    found.append(check(data, host.name))
                except SettingsError as error:
                    said = str(error).removeprefix(f"{host.name}: ")
                    problems += [(host.name, problem) for problem in said.rstrip(".").split("; ")]
            if len(found) < len(checks):
                continue
            result[host.name] = found[0]
            self.notes += [f"{host.name}: {warning}" for warning in found[0].warnings()]
        if problems:  # hosts sharing a problem are named together, the problem said once
            raise UsageError("invalid settings: " + "; ".join(grouped(problems)) + ".")
        return result


def parse_data(items: tuple[str, ...] | list[str]) -> dict:
    """``KEY=VALUE`` overrides.

    Lists, dicts (JSON or Python), booleans, null and whole numbers are parsed; anything else,
    such as ``28.10``, stays a string.
    """
    data = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--data {item!r} must look like KEY=VALUE.")
        data[key] = _value(raw)
    return data


def _value(raw: str):
    import ast
    import json

    words = {"true": True, "false": False, "null": None, "none": None}
    if raw.lower() in words:
        return words[raw.lower()]
    if raw.isdigit():
        return int(raw)
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except ValueError:
            try:
                return ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                pass
    return raw


def load(
    path: str,
    limit: tuple[str, ...] | list[str] = (),
    data: dict | None = None,
    exclude: tuple[str, ...] | list[str] = (),
) -> Fleet:
    """Load a pyinfra inventory file and select hosts by name, glob or group (``--limit``),
    leaving out ``exclude``d ones."""
    from pyinfra.api import State
    from pyinfra.context import ctx_inventory, ctx_state

    file = Path(path)
    if file.is_dir():
        raise UsageError(f"inventory {path} is a directory; pass a pyinfra inventory file (.py).")
    if not file.is_file():
        raise UsageError(f"inventory {path} does not exist; pass a pyinfra inventory file (.py).")
    try:
        source = file.read_bytes().decode()
        compile(source, str(file), "exec")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "it is not UTF-8 text"
        raise UsageError(f"inventory {path} cannot be read ({reason}); fix the file.") from None
    except (SyntaxError, ValueError) as error:
        where = f", line {error.lineno}" if getattr(error, "lineno", None) else ""
        reason = getattr(error, "msg", None) or str(error)
        raise UsageError(f"{path}{where}: {reason}; fix the inventory file.") from None
    cwd = os.getcwd()
    try:
        with ctx_state.use(State()):
            inventory = make_inventory(str(file), override_data=data or {}, cwd=cwd)
    except SystemExit as error:  # the inventory's own code ended the program
        line = _line_in(error, file)
        raise UsageError(
            f"{path}{f', line {line}' if line else ''}: the inventory called exit "
            f"({error.code!r}); an inventory file only defines hosts and groups."
        ) from None
    except Exception as error:  # any error raised by the inventory's own code
        error = getattr(error, "exception", error)  # pyinfra wraps it
        line = _line_in(error, file)
        if isinstance(error, IndexError) and line is None:  # pyinfra reads name[0]
            error = "a host has an empty name"
        raise UsageError(
            f"{path}{f', line {line}' if line else ''}: {error}; fix the inventory file."
        ) from None
    ctx_inventory.set(inventory)
    _check_data_keys(inventory, path)
    for host in inventory:
        redact.remember(host.data.dict())
    if not list(inventory):
        raise UsageError(f"{path} has no hosts; add some.")
    hosts = select(inventory, limit, path)
    excluded = select(inventory, exclude, path, "--exclude") if exclude else []
    hosts = [host for host in hosts if host not in excluded]
    if not hosts:
        raise UsageError(f"--exclude leaves no host of {path}; exclude fewer.")
    _check_connections(hosts, path)
    _check_keys(hosts, path)
    return Fleet(path, inventory, hosts, _host_key_checking(hosts))


def select(inventory: Inventory, limit, path: str, option: str = "--limit") -> list[Host]:
    """Hosts matching any ``limit`` pattern (host name, glob or group; several in one item
    separated by commas); all when empty."""
    import difflib

    hosts = list(inventory)
    patterns = [part.strip() for item in limit for part in item.split(",") if part.strip()]
    if not patterns:
        return hosts
    chosen: list[Host] = []
    for pattern in patterns:
        group = inventory.get_group(pattern, None) if pattern in inventory.groups else None
        matches = list(group) if group else [h for h in hosts if fnmatch.fnmatch(h.name, pattern)]
        if not matches:
            names = [*sorted(inventory.groups), *(h.name for h in hosts)]
            close = difflib.get_close_matches(pattern, names, 1, 0.8)
            raise UsageError(
                f"{option} {pattern} matches no host or group of {path} ({len(hosts)} hosts in "
                f"{len(inventory.groups)} groups)"
                + (f"; did you mean {close[0]}?" if close else "; pass a name, glob or group.")
            )
        chosen.extend(h for h in matches if h not in chosen)
    return chosen


def _check_data_keys(inventory: Inventory, path: str) -> None:
    """Host and group data keyed by strings only (``{1: ...}`` would break later)."""
    bad = [
        (host.name, f"data key {key!r} is not a string; use setting names as keys")
        for host in inventory
        for key in host.data.dict()
        if not isinstance(key, str)
    ]
    if bad:
        raise UsageError(f"{path}: " + "; ".join(grouped(bad)) + ".")


def _check_connections(hosts: list[Host], path: str) -> None:
    """Connection data of the right types, an address for every SSH host, and values OpenSSH's
    grammar accepts (``sshconfig``); all at once, secrets redacted."""
    problems = []
    for host in hosts:
        data, before = host.data.dict(), len(problems)
        if over_ssh(host) and "ssh_hostname" in data:
            address = data["ssh_hostname"]
            if address is None or (isinstance(address, str) and not address.strip()):
                problems.append(
                    f"host {host.name} has no address (ssh_hostname is {address!r}); "
                    "set ssh_hostname to its DNS name or IP address, or remove it to use the name."
                )
                continue
        for key, value in sorted(data.items()):
            if (
                key.startswith("ssh_")
                and isinstance(value, str)
                and FORBIDDEN_CONTROL.search(value)
            ):
                shown = redact.value(key, repr(value))
                problems.append(
                    f"host {host.name}: {key} holds a control character ({shown}); fix its value."
                )
        hints = connector_data_types(host)
        for key in sorted(hints.keys() & data.keys()):
            try:
                shown = redact.value(key, repr(data[key]))
                raise_if_bad_type(
                    data[key], hints[key], ConnectorDataTypeError, f"{key} is {shown}"
                )
            except ConnectorDataTypeError as error:
                problems.append(f"host {host.name}: {error}; fix its value.")
        if over_ssh(host) and len(problems) == before:
            problems.extend(f"{problem}." for problem in connection_problems(host.name, data))
    if problems:
        raise UsageError(f"{path}: " + " ".join(problems))


def _check_keys(hosts: list[Host], path: str) -> None:
    """Every ``ssh_key`` a private key file that exists; hosts sharing a problem said once."""
    problems = []
    for host in hosts:
        key = host.data.get("ssh_key")
        if not key or not isinstance(key, str):
            continue
        file = Path(os.path.expanduser(key))
        if not file.is_file():
            problems.append((host.name, f"ssh_key {key} does not exist; fix the path"))
        elif _is_public_key(file):
            problems.append(
                (host.name, f"ssh_key {key} is a public key; name the private key file")
            )
    if problems:
        raise UsageError(f"{path}: " + "; ".join(grouped(problems)) + ".")


def _is_public_key(file: Path) -> bool:
    """An OpenSSH public key (``ssh-ed25519 AAAA...``), not the private key beside it."""
    try:
        with file.open("rb") as key:
            start = key.read(64)
    except OSError:
        return False
    return file.suffix == ".pub" or re.match(rb"(ssh|ecdsa|sk)-[\w@.-]+ AAAA", start) is not None


def _host_key_checking(hosts: list[Host]) -> list[str]:
    """Check SSH host keys unless a host says otherwise; say so when one does."""
    notes = []
    for host in hosts:
        value = host.data.get("ssh_strict_host_key_checking")
        if value is None:
            host.data.ssh_strict_host_key_checking = "yes"
        elif str(value).lower() not in ("yes", "true"):
            notes.append(
                f"{host.name}: SSH host key checking is {value!r} "
                "(ssh_strict_host_key_checking); its identity is not verified."
            )
    return notes


def _line_in(error: Exception, file: Path) -> int | None:
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if Path(frame.filename).resolve() == file.resolve():
            return frame.lineno
    return None
