"""Running the shipped testinfra suites against a fleet: one pytest process per set of suites
(one for a fleet of one profile) and batch of at most ``BATCH`` hosts, each reading its hosts in
parallel (``--parallel`` at once, default all up to ``probe.MAX_PARALLEL``)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pyinfra.api.host import Host

from provision.core import compat
from provision.orchestrate.inventory import Fleet
from provision.ssh.config import FAST_KEX, Tokens, connection_options, host_block, quote

from . import results
from .probe import UNREAD
from .results import Check
from .settings import ENV, PARALLEL_ENV

SUITE = Path(__file__).with_name("test_docker.py")
SETTINGS_FILE = "settings.json"
SETTING_PREFIXES = ("docker_", "apt_", "ci_runner_")  # what the checks may read of host data
# first choices of key exchange with ``ssh_prefer_curve25519``: those of the deploy's own
# (paramiko) connections. OpenSSH 9.0-9.8 would pick sntrup761x25519 (post-quantum), ~55 ms of
# controller CPU per connection. The rest of OpenSSH's defaults follow.
KEX_FIRST = "^curve25519-sha256,curve25519-sha256@libssh.org"
SLOW_KEX = "sntrup761x25519-sha512"
# hosts per pytest process: pytest keeps every check it collected and every report until it
# ends, about 0.15 MiB per host; a process's start costs about 0.4 s of CPU
BATCH = 500


@dataclass
class HostChecks:
    """The verification result of one host."""

    checks: list[Check] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> int:
        return sum(check.passed for check in self.checks)

    @property
    def failed(self) -> int:
        return sum(not check.passed for check in self.checks) + (1 if self.error else 0)

    def as_dict(self) -> dict:
        return {
            "status": "failed" if self.failed else "passed",
            "passed": self.passed,
            "failed": self.failed,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "failures": [
                {"check": c.id, "message": c.message} for c in self.checks if not c.passed
            ],
        }


@dataclass
class VerifyResult:
    """The verification result of a fleet."""

    hosts: dict[str, HostChecks]
    duration_s: float = 0.0
    interrupted: str | None = None  # the signal that stopped the checks (SIGINT, SIGTERM)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.failed == 0 for r in self.hosts.values())

    def as_dict(self) -> dict:
        summary = {
            "hosts": len(self.hosts),
            "passed": sum(1 for r in self.hosts.values() if not r.failed),
            "failed": sum(1 for r in self.hosts.values() if r.failed),
        }
        return {
            "command": "verify",
            "duration_s": round(self.duration_s, 3),
            "summary": summary,
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            "hosts": {name: result.as_dict() for name, result in self.hosts.items()},
        }


def ssh_config_entry(host: Host) -> str:
    """An OpenSSH config block reproducing how pyinfra connects to ``host``."""
    fast = host.data.get(FAST_KEX) is True and _offers(SLOW_KEX)
    return host_block(
        host.name,
        {
            **connection_options(host.name, host.data.dict()),
            "KexAlgorithms": KEX_FIRST if fast else None,
            "BatchMode": "yes",
            "ConnectTimeout": 15,
            "LogLevel": "ERROR",
        },
    )


def ssh_config(hosts: list[Host], control_dir: Path) -> str:
    """One config for all hosts; users' own files (``ssh_config_file``) are included first,
    so their settings win (OpenSSH takes the first value it reads).

    Connections are multiplexed through one master per host, so each check costs a round trip
    instead of an SSH handshake. OpenSSH's key exchange default is kept; a host with
    ``ssh_prefer_curve25519: True`` prefers ``KEX_FIRST`` where the client would pick
    ``SLOW_KEX``.
    """
    includes = sorted(
        {
            os.path.expanduser(h.data.get("ssh_config_file"))
            for h in hosts
            if h.data.get("ssh_config_file")
        }
    )
    head = "".join(f"Include {quote('Include', path)}\n" for path in includes)
    shared = host_block(
        "*",
        {
            "ControlMaster": "auto",
            "ControlPath": Tokens(str(control_dir).replace("%", "%%") + "/%C"),
            "ControlPersist": "30s",
        },
    )
    return head + "\n".join(ssh_config_entry(host) for host in hosts) + "\n" + shared


@functools.cache
def _offers(kex: str) -> bool:
    """Whether this machine's OpenSSH client knows key exchange ``kex`` (``ssh -Q kex``; only
    clients that know it, 8.5 and later, are given ``KEX_FIRST``)."""
    try:
        known = subprocess.run(["ssh", "-Q", "kex"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return any(name.startswith(kex) for name in known.split())


def verify(
    fleet: Fleet,
    parallel: int | None = None,
    suites: tuple[Path, ...] | Mapping[str, tuple[Path, ...]] = (SUITE,),
) -> VerifyResult:
    """Run ``suites`` (the same for every host, or ``{host: suites}``) on every selected host;
    one ``HostChecks`` per host.

    One pytest process checks the hosts of the same suites (``BATCH`` at most; more in batches,
    one after another), reading at most ``parallel`` hosts at once (default: all, capped); each
    host's first read opens the SSH connection its checks then share. A host that cannot be
    read (no SSH, no passwordless sudo) fails with that one reason.
    """
    from provision.core import interrupt

    started = time.monotonic()
    names = [host.name for host in fleet.hosts]
    with tempfile.TemporaryDirectory(prefix="provision-verify-") as tmp:
        work = Path(tmp)
        config = write_session(fleet.hosts, work)
        try:
            each = suites if isinstance(suites, Mapping) else dict.fromkeys(names, suites)
            groups: dict[tuple[Path, ...], list[str]] = {}
            for name in names:
                groups.setdefault(tuple(each[name]), []).append(name)
            results = _verify_groups(groups, work, parallel)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the checks' process is ended
            stopped = interrupt.received()
            why = f"interrupted by {stopped} before it was checked."
            results = {name: HostChecks(error=f"{name}: {why}") for name in names}
            return VerifyResult(results, time.monotonic() - started, stopped)
        finally:
            close_connections(names, config)
    return VerifyResult({name: results[name] for name in names}, time.monotonic() - started)


def write_session(hosts: list[Host], work: Path) -> Path:
    """What a pytest session needs in ``work`` to check ``hosts`` as the inventory describes
    them: an OpenSSH config (returned) and each host's settings (``settings.json``)."""
    config = work / "ssh_config"
    config.write_text(ssh_config(hosts, work))
    settings = {h.name: _settings_data(h) for h in hosts}
    (work / SETTINGS_FILE).write_text(json.dumps(settings, default=str))
    return config


def close_connections(names: list[str], config: Path) -> None:
    """Close the multiplexed SSH connections of ``names`` (opened through ``config``), all at
    once."""

    def close(name: str) -> None:
        subprocess.run(["ssh", "-F", str(config), "-O", "exit", "--", name], capture_output=True)

    with ThreadPoolExecutor(max_workers=max(1, min(len(names), 32))) as pool:
        list(pool.map(close, names))


def _settings_data(host: Host) -> dict:
    data = host.data.dict().items()
    return {key: value for key, value in data if key.startswith(SETTING_PREFIXES)}


def _verify_groups(
    groups: dict[tuple[Path, ...], list[str]], work: Path, parallel: int | None
) -> dict[str, HostChecks]:
    """``{suites: host names}``: one pytest process per group, all groups at once; a group
    of more than ``BATCH`` hosts is checked in batches, one after another. A host's duration
    runs from the start of its batch until its checks are read."""
    batches = [
        [(suites, names[at : at + BATCH]) for at in range(0, len(names), BATCH)]
        for suites, names in groups.items()
    ]
    by_host: dict[str, HostChecks] = {}
    running: list[subprocess.Popen] = []
    try:
        for step in range(max(map(len, batches), default=0)):
            started, now = time.monotonic(), []
            for suites, names in (group[step] for group in batches if step < len(group)):
                found = work / f"checks{len(running)}.jsonl"
                found.unlink(missing_ok=True)
                running.append(_start(names, work, parallel, suites, found))
                now.append((names, found, running[-1]))
            for names, found, process in now:
                process.wait()
                checks = results.read(found, names)
                said = found.with_suffix(".out").read_text(errors="replace")
                elapsed = time.monotonic() - started
                by_host.update(_host_checks(names, checks, process.returncode, said, elapsed))
        return by_host
    finally:  # interrupted: no check goes on
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()


def _start(
    names: list[str], work: Path, parallel: int | None, suites: tuple[Path, ...], found: Path
) -> subprocess.Popen:
    """The pytest process checking ``names`` with ``suites``: its results in ``found``
    (``verify.results``), its output in ``found``'s ``.out`` sibling."""
    # the suites need testinfra's plugin and the one recording results alone: others installed
    # beside them (some take half a second to load) neither slow nor change the checks
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        compat.TESTINFRA_PLUGIN,
        "-p",
        results.__name__,
        *map(str, suites),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",  # no log capture around every phase of every check: nothing reads it
        "no:logging",
        "--hosts=" + ",".join(f"ssh://{name}" for name in names),
        f"--ssh-config={work / 'ssh_config'}",
        "--rootdir",
        str(work),
    ]
    env = dict(
        os.environ,
        **{ENV: str(work / SETTINGS_FILE), results.ENV: str(found)},
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    if parallel:
        env[PARALLEL_ENV] = str(parallel)
    with open(found.with_suffix(".out"), "w") as output:
        return subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=work,
        )


def _host_checks(
    names: list[str], checks: dict[str, list[Check]], returncode: int, said: str, elapsed: float
) -> dict[str, HostChecks]:
    """Each host's checks from one pytest process's ``checks`` (``results.read``), exit code
    and output."""
    by_host = {}
    for name in names:
        result = HostChecks(duration_s=elapsed)
        result.checks = checks.get(name, [])
        unread = {c.message for c in result.checks if c.message.startswith(f"{name}: {UNREAD}")}
        if unread and not result.passed:  # every check failed for the one reason: say it once
            result.checks, result.error = [], sorted(unread)[0]
        elif not result.checks or returncode not in (0, 1):
            tail = said.strip().splitlines()
            result.error = (
                f"{name}: the verification could not run: {tail[-1] if tail else 'no output'}"
            )
        by_host[name] = result
    return by_host
