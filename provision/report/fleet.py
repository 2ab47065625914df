"""Tables of the fleet commands: ``exec``, ``bootstrap`` and rolling ``apply``."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from rich.table import Table

from provision.orchestrate.bootstrap import FleetBootstrap
from provision.orchestrate.exec import ExecResult
from provision.orchestrate.rollout import Rollout
from provision.report.tables import shown

STYLE = {
    "done": "green",
    "changed": "yellow",
    "unchanged": "green",
    "failed": "red",
    "interrupted": "magenta",
    "not attempted": "dim",
}
OUTPUT_LINES = 3


def _styled(status: str) -> str:
    return f"[{STYLE.get(status, 'white')}]{status}[/]"


def exec_table(result: ExecResult, lines: int = OUTPUT_LINES) -> Table:
    """Host, exit code, duration and the first ``lines`` lines of output (or the error)."""
    title = f"provision exec{' (sudo)' if result.sudo else ''}: {result.command}"
    table = Table(title=shown(title), title_justify="left")
    for column in ("host", "exit", "duration", "output"):
        table.add_column(column, overflow="fold")
    for name, host in result.hosts.items():
        text = host.stdout.strip() or host.stderr.strip()
        first = text.splitlines()[:lines]
        if len(text.splitlines()) > lines:
            first.append(f"… {len(text.splitlines()) - lines} more lines (see --report)")
        if host.error:
            first.insert(0, host.error)
        code = "-" if host.exit_code is None else str(host.exit_code)
        table.add_row(
            shown(name),
            f"[{'green' if host.ok else 'red'}]{code}[/]",
            f"{host.duration_s:.2f} s",
            shown("\n".join(first)),
        )
    counts = result.summary()
    table.caption = (
        f"{counts['hosts']} hosts: {counts['ok']} exit 0, {counts['failed']} non-zero, "
        f"{counts['not run']} not run in {result.duration_s:.1f} s"
        + (f"; interrupted by {result.interrupted}" if result.interrupted else "")
    )
    return table


def bootstrap_table(result: FleetBootstrap) -> Table:
    """Host, status, host key (recorded on first use, or known) and what changed."""
    table = Table(title=f"provision bootstrap (as {result.initial_user})", title_justify="left")
    for column in ("host", "status", "host key", "changes / reason"):
        table.add_column(column, overflow="fold")
    for name, host in result.hosts.items():
        detail = host.error or "\n".join(host.changes) or "nothing to change"
        table.add_row(shown(name), _styled(host.status), shown(host.host_key), shown(detail))
    table.caption = "\n".join(_host_key_notes(result))
    return table


def _host_key_notes(result: FleetBootstrap) -> list[str]:
    """What the host key column means for the user: what to compare, what was not checked."""

    def hosts(word: str) -> str:
        return ", ".join(shown(n) for n, h in result.hosts.items() if h.host_key.startswith(word))

    notes = []
    if hosts("recorded"):
        notes.append(
            f"host keys of {hosts('recorded')} were seen for the first time and recorded (trust "
            "on first use): compare the fingerprints above with each host's console "
            "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)."
        )
    if hosts("new"):
        notes.append(
            f"host keys of {hosts('new')} were seen for the first time but not recorded, as "
            "the login failed: compare their fingerprints before the next run records them."
        )
    if hosts("-"):
        notes.append(f"no host key of {hosts('-')} was confirmed: see the reason.")
    if all(h.host_key == "known" for h in result.hosts.values()):
        notes.append("every host key matched the known_hosts file.")
    return notes


def rollout_table(rollout: Rollout) -> Table:
    """Host, batch, state, the apply's status, the verification and the reason."""
    table = Table(title=f"provision apply --batch {rollout.batch}", title_justify="left")
    for column in ("host", "batch", "state", "apply", "verify", "engine", "reason"):
        table.add_column(column, overflow="fold")
    for name, host in rollout.hosts.items():
        batch = "earlier run" if host.earlier else str(host.batch or "-")
        table.add_row(
            shown(name),
            batch,
            _styled(host.state),
            shown(host.apply or "-"),
            shown(host.verify or "-"),
            shown(_engine(host)),
            shown(host.error or ""),
        )
    counts = rollout.summary()
    lines = [f"note: {shown(note)}" for note in rollout.notes]
    if rollout.stopped:
        lines.append(f"[red]stopped: {shown(rollout.stopped)}[/]")
    lines.append(
        f"{counts['hosts']} hosts in {len(rollout.batches)} batches of {rollout.size}: "
        + ", ".join(f"{counts[state]} {state}" for state in STYLE if state in counts)
        + f" in {rollout.duration_s:.1f} s"
    )
    table.caption = "\n".join(lines)
    return table


def _engine(host) -> str:
    """``26.1.5 → 28.5.2, down 1.2 s``, and the rollback, when the engine changed."""
    if not host.engine_to:
        return "-"
    text = f"{_upstream(host.engine_from)} → {_upstream(host.engine_to)}"
    if host.downtime_s is not None:
        text += f", down {host.downtime_s:.1f} s"
    if host.rolled_back_to:
        text += f"; rolled back to {_upstream(host.rolled_back_to)}: {host.rollback}"
    return text


def _upstream(version: str | None) -> str:
    """``5:26.1.5-1~debian.12~bookworm`` -> ``26.1.5``."""
    if not version:
        return "none"
    return re.sub(r"^\d+:", "", version).partition("-")[0]


def rollout_junit(rollout: Rollout) -> ET.ElementTree:
    """One test case per host: failed and interrupted hosts fail, never attempted ones skip."""
    counts = rollout.summary()
    suite = ET.Element(
        "testsuite",
        name="provision.apply",
        tests=str(counts["hosts"]),
        failures=str(counts["failed"] + counts["interrupted"]),
        skipped=str(counts["not attempted"]),
        time=f"{rollout.duration_s:.3f}",
    )
    for name, host in rollout.hosts.items():
        case = ET.SubElement(suite, "testcase", classname="provision.apply", name=name)
        if host.state in ("failed", "interrupted"):
            ET.SubElement(case, "failure", message=host.error or host.state)
        elif host.state == "not attempted":
            ET.SubElement(case, "skipped", message=rollout.stopped or "not attempted")
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.ElementTree(root)
