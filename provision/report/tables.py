"""Results as tables for people: apply, verify, status, exec, bootstrap and rolling apply."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provision.core import redact
from provision.orchestrate.bootstrap import FleetBootstrap
from provision.orchestrate.exec import ExecResult
from provision.orchestrate.results import FleetResult
from provision.orchestrate.rollout import Rollout

STYLE = {
    "changed": "yellow",
    "unchanged": "green",
    "done": "green",
    "passed": "green",
    "failed": "red",
    "interrupted": "magenta",
    "not attempted": "dim",
}


def shown(value: object) -> str:
    """Data (host names, facts, messages) as rich prints it literally, secrets redacted."""
    return escape(redact.text(str(value)))


def apply_table(result: FleetResult) -> Table:
    """Host, status, operations changed, duration and the reason of a failure."""
    title = f"provision {result.command}" + (
        " (dry run: nothing was changed)" if result.dry else ""
    )
    table = Table(title=title, title_justify="left")
    for column in ("host", "status", "changed ops", "duration", "reason"):
        table.add_column(column, overflow="fold")
    for name, host in result.hosts.items():
        table.add_row(
            shown(name),
            f"[{STYLE[host.status]}]{host.status}[/]",
            f"{host.changed_operations}/{host.operations}",
            f"{host.duration_s:.1f} s",
            shown(host.error or ""),
        )
    counts = result.summary()
    notes = "".join(f"\nnote: {shown(note)}" for note in result.notes)
    table.caption = (
        notes.lstrip("\n")
        + ("\n" if notes else "")
        + (
            f"{counts['hosts']} hosts: {counts['changed']} changed, "
            f"{counts['unchanged']} unchanged, {counts['failed']} failed "
            + (f"{counts['interrupted']} interrupted " if counts.get("interrupted") else "")
            + f"in {result.duration_s:.1f} s"
        )
    )
    return table


def print_changes(result: FleetResult, diffs: bool) -> None:
    """Under the table: per host, each operation that changed (or would) and what it does."""
    console = _console()
    verb = "would change" if result.dry else "changed"
    for name, host in result.hosts.items():
        if not host.changes:
            continue
        count = len(host.changes)
        console.print(f"[bold]{shown(name)}[/]: {count} operation{'s' * (count != 1)} {verb}")
        for change in host.changes:
            console.print(f"  [yellow]{shown(change['operation'])}[/]")
            for line in change["changes"]:
                console.print(f"    {shown(line)}", highlight=False)
            if diffs and change.get("diff"):
                for line in change["diff"].splitlines():
                    colour = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
                    text = shown(line)
                    console.print(f"      [{colour}]{text}[/]" if colour else f"      {text}")


def verify_table(result) -> Table:
    """Hosts by checks: pass/fail, and the messages of failing checks."""
    table = Table(title="provision verify", title_justify="left")
    for column in ("host", "status", "passed", "failed", "failing checks"):
        table.add_column(column, overflow="fold")
    for name, host in result.hosts.items():
        status = "failed" if host.failed else "passed"
        failures = [shown(f"{c.id}: {c.message}") for c in host.checks if not c.passed]
        if host.error:
            failures.insert(0, shown(host.error))
        table.add_row(
            shown(name),
            f"[{STYLE[status]}]{status}[/]",
            str(host.passed),
            str(host.failed),
            "\n".join(failures),
        )
    data = result.as_dict()["summary"]
    table.caption = (
        f"{data['hosts']} hosts: {data['passed']} passed, {data['failed']} failed "
        f"in {result.duration_s:.1f} s"
    )
    return table


def print_table(table: Table) -> None:
    """Print to the terminal, or at a fixed generous width into pipes and logs."""
    _console().print(table)


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


def status_table(result: FleetResult) -> Table:
    """Per host: OS, Docker and compose versions, channel, pin/hold, services, drift."""
    table = Table(title="provision status", title_justify="left")
    for column in (
        "host",
        "os",
        "docker",
        "compose",
        "channel",
        "pinned/held",
        "services",
        "drift",
    ):
        table.add_column(column, overflow="fold")
    for name, host in result.hosts.items():
        facts = result.facts.get(name, {})
        if host.status == "failed":
            drift = f"[red]{shown(host.error or '')}[/]"
        elif host.changed_operations:
            drift = "[yellow]" + shown(", ".join(host.changed)) + "[/]"
        else:
            drift = "[green]none[/]"
        pins = " / ".join(filter(None, [facts.get("pinned"), ",".join(facts.get("held", []))]))
        table.add_row(
            *map(
                shown,
                (
                    name,
                    facts.get("os", "?"),
                    facts.get("docker") or "-",
                    facts.get("compose") or "-",
                    facts.get("channel") or "-",
                    pins or "-",
                    f"docker {facts.get('docker_service', '?')}\ncontainerd "
                    f"{facts.get('containerd_service', '?')}",
                ),
            ),
            drift,
        )
    return table


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
