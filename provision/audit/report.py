"""The audit's results for people (a table and a per-check summary), programs (JSON), CI
(JUnit XML) and Prometheus (node_exporter's textfile collector)."""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.table import Table

from provision.report.documents import host_suite
from provision.report.tables import shown as escape  # literal, secrets redacted

from .model import FAIL, MANUAL, NOT_APPLICABLE, PASS, RESULTS, WAIVED

STYLE = {PASS: "green", FAIL: "red", NOT_APPLICABLE: "dim", MANUAL: "cyan", WAIVED: "yellow"}
MARK = {PASS: "✓", FAIL: "✗", NOT_APPLICABLE: "-", MANUAL: "?", WAIVED: "W"}
MATRIX_HOSTS = 8  # up to this many hosts, the table has a column per host
METRIC = "provision_docker_audit_check"
OK_RESULTS = (PASS, NOT_APPLICABLE, WAIVED)  # what a gauge shows as 1


def as_dict(result) -> dict:
    """The JSON document of ``provision audit --json`` and ``--report``."""
    hosts = {}
    for name, host in result.hosts.items():
        hosts[name] = {
            "status": _status(host),
            "error": host.error,
            "duration_s": round(host.duration_s, 3),
            "counts": {r: host.count(r) for r in RESULTS},
            "checks": [finding.as_dict() for finding in host.findings],
        }
    return {
        "command": "audit",
        "benchmark": "CIS Docker Benchmark v1.6.0, sections 1, 2, 3 and 5",
        "duration_s": round(result.duration_s, 3),
        "summary": summary(result),
        **({"interrupted": result.interrupted} if result.interrupted else {}),
        "hosts": hosts,
    }


def _status(host) -> str:
    if host.interrupted:
        return "interrupted"
    return "error" if host.error else ("failed" if host.count(FAIL) else "passed")


def by_check(result) -> dict[str, dict[str, list[str]]]:
    """``{check id: {result: [hosts]}}`` over the hosts that could be read."""
    table: dict[str, dict[str, list[str]]] = {}
    for name, host in result.hosts.items():
        for finding in host.findings:
            table.setdefault(finding.check.id, {}).setdefault(finding.result, []).append(name)
    return table


def summary(result, everything: bool = False) -> list[str]:
    """One line per check across the fleet, e.g. "2.15 live-restore: 48 pass, 2 fail: web7,
    web9" (failing and waived hosts are named); without ``everything`` only the checks that
    failed or were waived somewhere."""
    lines = []
    checks = {f.check.id: f.check for h in result.hosts.values() for f in h.findings}
    for id, results in by_check(result).items():
        if not everything and set(results) <= {PASS, NOT_APPLICABLE, MANUAL}:
            continue
        parts = []
        for outcome in RESULTS:
            hosts = results.get(outcome)
            if hosts:
                named = f": {', '.join(hosts)}" if outcome in (FAIL, WAIVED) else ""
                parts.append(f"{len(hosts)} {outcome}{named}")
        lines.append(f"{id} {checks[id].name}: {', '.join(parts)}")
    return lines


def table(result) -> Table:
    """Checks by hosts (a column per host up to ``MATRIX_HOSTS``), or hosts with their counts
    and failing checks for larger fleets."""
    if len(result.hosts) <= MATRIX_HOSTS:
        return _matrix(result)
    grid = Table(title="provision audit", title_justify="left")
    for column in ("host", *RESULTS, "failing checks"):
        grid.add_column(column, overflow="fold")
    for name, host in result.hosts.items():
        failing = host.error or ", ".join(f.check.id for f in host.findings if f.result == FAIL)
        grid.add_row(escape(name), *(str(host.count(r)) for r in RESULTS), escape(failing))
    grid.caption = _caption(result)
    return grid


def _matrix(result) -> Table:
    grid = Table(title="provision audit", title_justify="left")
    grid.add_column("check")
    grid.add_column("level")
    names = list(result.hosts)
    for name in names:
        grid.add_column(escape(name), justify="center")
    if len(names) == 1:
        grid.add_column("evidence", overflow="fold")
    seen = {}
    for name in names:
        for finding in result.hosts[name].findings:
            seen.setdefault(finding.check.id, {})[name] = finding
    checks = {f.check.id: f.check for h in result.hosts.values() for f in h.findings}
    for id, found in seen.items():
        cells = []
        for name in names:
            finding = found.get(name)
            cells.append(f"[{STYLE[finding.result]}]{MARK[finding.result]}[/]" if finding else "")
        if len(names) == 1:
            finding = found[names[0]]
            shown = "" if finding.result == PASS else finding.waiver or finding.evidence
            cells.append(escape(shown))
        grid.add_row(f"{id} {escape(checks[id].name)}", str(checks[id].level), *cells)
    errors = [f"{escape(n)}: {escape(h.error)}" for n, h in result.hosts.items() if h.error]
    grid.caption = "\n".join(
        [*errors, "✓ pass ✗ fail - not applicable ? manual W waived", _caption(result)]
    )
    return grid


def _caption(result) -> str:
    stopped = sum(1 for h in result.hosts.values() if h.interrupted)
    failed = sum(1 for h in result.hosts.values() if not h.ok) - stopped
    return (
        f"{len(result.hosts)} hosts: {len(result.hosts) - failed - stopped} passed, {failed} "
        f"failed{f', {stopped} interrupted by {result.interrupted}' if stopped else ''} "
        f"in {result.duration_s:.1f} s"
    )


def junit(result) -> ET.ElementTree:
    """One test suite per host, one test case per check: failures fail, manual and not
    applicable checks are skipped, waived ones pass with their reason."""
    root = ET.Element("testsuites")
    for name, host in result.hosts.items():
        skipped = str(host.count(MANUAL) + host.count(NOT_APPLICABLE))
        suite = host_suite(
            root, "audit", name, len(host.findings), host.count(FAIL), host, skipped=skipped
        )
        for finding in host.findings:
            case = ET.SubElement(
                suite, "testcase", classname=name, name=f"{finding.check.id} {finding.check.title}"
            )
            if finding.result == FAIL:
                failure = ET.SubElement(case, "failure", message=finding.evidence)
                failure.text = finding.check.remediation
            elif finding.result in (MANUAL, NOT_APPLICABLE):
                ET.SubElement(case, "skipped", message=f"{finding.result}: {finding.evidence}")
            elif finding.result == WAIVED:
                ET.SubElement(case, "system-out").text = f"waived: {finding.waiver}"
    return ET.ElementTree(root)


def prometheus(result) -> str:
    """The text exposition format: a gauge per host and check (1: pass, not applicable or
    waived; 0: fail or manual, the ``result`` label says which) and one per host saying
    whether it could be read."""
    lines = [
        f"# HELP {METRIC} CIS Docker Benchmark check on a host: 1 passed, not applicable or "
        "waived; 0 failed or manual (see the result label).",
        f"# TYPE {METRIC} gauge",
    ]
    for name, host in result.hosts.items():
        for f in host.findings:
            labels = _labels(
                host=name,
                check=f.check.id,
                title=f.check.title,
                level=str(f.check.level),
                result=f.result,
            )
            lines.append(f"{METRIC}{{{labels}}} {int(f.result in OK_RESULTS)}")
    lines += [
        "# HELP provision_docker_audit_host_read Whether the audit could read the host.",
        "# TYPE provision_docker_audit_host_read gauge",
        *(
            f"provision_docker_audit_host_read{{{_labels(host=n)}}} {int(h.error is None)}"
            for n, h in result.hosts.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    return ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())


def _escape(value: str) -> str:
    """A label value as the exposition format quotes it (backslash, double quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_prometheus(path: str | Path, result) -> None:
    """Write the metrics atomically (node_exporter must never read half a file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(prometheus(result))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
