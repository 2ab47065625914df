"""``provision exec``: one shell command on every selected host at once (fabric's
``ThreadingGroup``), with each host's exit code, duration and output."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field

from fabric import Connection, ThreadingGroup
from fabric.exceptions import GroupException
from invoke.exceptions import CommandTimedOut

from provision.core import interrupt
from provision.orchestrate.batches import batches
from provision.ssh.connections import connect_error, connection, known_hosts_file

from .inventory import Fleet


@dataclass
class CommandResult:
    """What one command did on one host; ``exit_code`` is ``None`` when it did not run."""

    exit_code: int | None = None
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def as_dict(self) -> dict:
        return {
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "error": self.error,
        }


@dataclass
class ExecResult:
    """The command's outcome on every selected host."""

    command: str
    sudo: bool
    hosts: dict[str, CommandResult]
    duration_s: float = 0.0
    interrupted: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(host.ok for host in self.hosts.values())

    def summary(self) -> dict[str, int]:
        values = self.hosts.values()
        return {
            "hosts": len(self.hosts),
            "ok": sum(h.ok for h in values),
            "failed": sum(h.exit_code not in (0, None) for h in values),
            "not run": sum(h.exit_code is None for h in values),
        }

    def as_dict(self) -> dict:
        return {
            "command": "exec",
            "shell_command": self.command,
            "sudo": self.sudo,
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary(),
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            "hosts": {name: host.as_dict() for name, host in self.hosts.items()},
        }


class _TimedConnection(Connection):
    """A connection that keeps how long its last command took, connecting included."""

    elapsed = 0.0

    def run(self, command, **kwargs):
        started = time.monotonic()
        try:
            return super().run(command, **kwargs)
        finally:
            self.elapsed = time.monotonic() - started


def remote_command(command: str, sudo: bool) -> str:
    """``command`` as the login user's shell runs it, or through ``sudo -n sh -c``."""
    return f"sudo -n sh -c {shlex.quote(command)}" if sudo else command


def run_command(
    fleet: Fleet,
    command: str,
    sudo: bool = False,
    timeout: int | None = None,
    parallel: int | None = None,
) -> ExecResult:
    """Run ``command`` on every host of ``fleet``, ``parallel`` hosts at a time (default all).

    A host that cannot be reached, or whose command fails or times out, never hides the others'
    results. Ctrl-C stops the run; hosts without a result are then reported as not run.
    """
    started = time.monotonic()
    hosts = {host.name: host for host in fleet.hosts}
    conns = {name: connection(host, cls=_TimedConnection) for name, host in hosts.items()}
    names = {conn: name for name, conn in conns.items()}
    results: dict[str, CommandResult] = {}
    line = remote_command(command, sudo)
    interrupted = None
    try:
        for chunk in batches(list(conns), parallel or len(conns)):
            group = ThreadingGroup.from_connections([conns[name] for name in chunk])
            try:
                done = group.run(line, hide=True, warn=True, in_stream=False, timeout=timeout)
            except GroupException as error:
                done = error.result
            for conn, value in done.items():
                name = names[conn]
                results[name] = _result(name, value, conn.elapsed, known_hosts_file(hosts[name]))
    except KeyboardInterrupt:
        interrupted = interrupt.received()
    finally:
        for conn in conns.values():
            conn.close()
    for name in conns:
        results.setdefault(name, CommandResult(error=f"{name}: not run (interrupted)."))
    ordered = {name: results[name] for name in conns}
    return ExecResult(command, sudo, ordered, time.monotonic() - started, interrupted, fleet.notes)


def _result(name: str, value, elapsed: float, known) -> CommandResult:
    if isinstance(value, CommandTimedOut):
        return CommandResult(
            None,
            elapsed,
            value.result.stdout,
            value.result.stderr,
            f"{name}: the command did not finish within {value.timeout} s and was stopped.",
        )
    if isinstance(value, BaseException):
        return CommandResult(None, elapsed, error=connect_error(name, value, known))
    return CommandResult(value.exited, elapsed, value.stdout, value.stderr)
