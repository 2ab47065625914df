"""Results as documents for programs and CI: JSON, and JUnit XML, secrets redacted."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from provision.core import redact
from provision.orchestrate.results import FleetResult
from provision.orchestrate.rollout import Rollout


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
    return ET.ElementTree(_wrap(suite))
