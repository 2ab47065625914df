"""Reports of fleet runs: rich tables for people, JSON and JUnit XML for programs and CI."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provision.core import redact
from provision.orchestrate.results import FleetResult

STYLE = {
    "changed": "yellow",
    "unchanged": "green",
    "failed": "red",
    "passed": "green",
    "interrupted": "magenta",
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


def json_text(data: dict) -> str:
    """The JSON document of a result, secrets redacted."""
    return json.dumps(redact.redacted(data), indent=2, sort_keys=False)


def write_json(path: str | Path, data: dict) -> None:
    Path(path).write_text(json_text(data) + "\n")


def apply_junit(result: FleetResult) -> ET.ElementTree:
    """One test case per host: failed hosts are failures."""
    suite = ET.Element(
        "testsuite",
        name=f"provision.{result.command}",
        tests=str(len(result.hosts)),
        failures=str(result.summary()["failed"]),
        time=f"{result.duration_s:.3f}",
    )
    for name, host in result.hosts.items():
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"provision.{result.command}",
            name=name,
            time=f"{host.duration_s:.3f}",
        )
        if host.status == "failed":
            ET.SubElement(case, "failure", message=host.error or "failed")
        else:
            ET.SubElement(
                case, "system-out"
            ).text = (
                f"{host.status}: {host.changed_operations}/{host.operations} operations changed"
            )
    return ET.ElementTree(_wrap(suite))


def verify_junit(result) -> ET.ElementTree:
    """One test suite per host, one test case per check."""
    root = ET.Element("testsuites")
    for name, host in result.hosts.items():
        failures = sum(not check.passed for check in host.checks)
        suite = host_suite(root, "verify", name, len(host.checks), failures, host)
        for check in host.checks:
            case = ET.SubElement(suite, "testcase", classname=name, name=check.id)
            if not check.passed:
                ET.SubElement(case, "failure", message=check.message)
    return ET.ElementTree(root)


def host_suite(
    root: ET.Element, command: str, name: str, tests: int, failures: int, host, **more: str
) -> ET.Element:
    """A host's test suite under ``root``; a host that could not be read (``host.error``) has
    one errored ``connection`` case."""
    suite = ET.SubElement(
        root,
        "testsuite",
        name=f"provision.{command}.{name}",
        tests=str(tests + (1 if host.error else 0)),
        failures=str(failures),
        errors=str(1 if host.error else 0),
        **more,
        time=f"{host.duration_s:.3f}",
    )
    if host.error:
        case = ET.SubElement(suite, "testcase", classname=name, name="connection")
        ET.SubElement(case, "error", message=host.error)
    return suite


def _xml_text(text: str | None) -> str | None:
    if text is None:
        return None
    return NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", redact.text(text))


def _wrap(suite: ET.Element) -> ET.Element:
    root = ET.Element("testsuites")
    root.append(suite)
    return root


# characters XML 1.0 cannot hold, even escaped (control characters but tab and newlines)
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def write_junit(path: str | Path, tree: ET.ElementTree) -> None:
    """Write ``tree``, secrets redacted; characters XML cannot hold are written as ``\\xNN``
    escapes."""
    for element in tree.iter():
        element.text = _xml_text(element.text)
        for key, value in element.attrib.items():
            element.set(key, _xml_text(value))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


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
