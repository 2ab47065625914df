"""Auditing a fleet: one probe per host, all hosts at once, then the checks on what was read."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from provision.core import interrupt
from provision.core.errors import UsageError
from provision.orchestrate.inventory import Fleet
from provision.verify.probe import MAX_PARALLEL, ProbeError, read
from provision.verify.run import close_connections, write_session

from .checks import evaluate, unknown_waivers
from .model import FAIL, Finding
from .probe import commands
from .state import HostState


@dataclass
class HostAudit:
    """One host's findings, or why it could not be read."""

    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    interrupted: bool = False  # the run was stopped before this host was read

    def count(self, result: str) -> int:
        return sum(f.result == result for f in self.findings)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.count(FAIL)


@dataclass
class AuditResult:
    """The audit of a fleet: ``{host: HostAudit}``."""

    hosts: dict[str, HostAudit]
    duration_s: float = 0.0
    interrupted: str | None = None  # the signal that stopped the audit (SIGINT, SIGTERM)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(host.ok for host in self.hosts.values())

    def as_dict(self) -> dict:
        from .report import as_dict

        return as_dict(self)


def audit(fleet: Fleet, settings: dict, parallel: int | None = None) -> AuditResult:
    """Probe every selected host (``parallel`` at once, default all up to 32) and run the
    checks on each, against its ``settings`` (``Fleet.settings``); a host that cannot be read
    has that one error. Ctrl-C or SIGTERM (under ``interrupt.graceful``) ends it at once: the
    hosts not yet read are marked interrupted."""
    started = time.monotonic()
    waivers = {name: dict(s.docker_audit_waivers) for name, s in settings.items()}
    for name, host_waivers in waivers.items():
        unknown = unknown_waivers(host_waivers)
        if unknown:
            raise UsageError(
                f"{name}: docker_audit_waivers names {', '.join(unknown)}, which this audit "
                "does not check; use the benchmark's numbers, as `provision audit` lists them."
            )
    names = [host.name for host in fleet.hosts]
    with tempfile.TemporaryDirectory(prefix="provision-audit-") as tmp:
        config = write_session(fleet.hosts, Path(tmp))

        def one(name: str) -> HostAudit:
            begun = time.monotonic()
            s = settings[name]
            options = s.docker_daemon_options
            tls = [str(options[key]) for key in TLS_KEYS if options.get(key)]
            try:
                sections = read(_host(name, config), commands(tls))
            except ProbeError as error:
                return HostAudit(error=str(error), duration_s=time.monotonic() - begun)
            state = HostState(sections, s.docker_users)
            return HostAudit(evaluate(state, waivers[name]), None, time.monotonic() - begun)

        workers = min(len(names), parallel or MAX_PARALLEL)
        try:
            done, stopped = interrupt.each(one, names, workers)
        finally:
            close_connections(names, config)
    why = f"interrupted by {stopped} before it was read."
    results = {
        name: done.get(name) or HostAudit(error=f"{name}: {why}", interrupted=True)
        for name in names
    }
    return AuditResult(results, time.monotonic() - started, stopped)


TLS_KEYS = ("tlscacert", "tlscert", "tlskey")


def _host(name: str, config: Path):
    import testinfra

    return testinfra.get_host(f"ssh://{name}", ssh_config=str(config))
