"""Each check's result as data, from pytest's own hooks, not from a report file.

verify's pytest run loads this plugin (``-p provision.verify.results``); it writes one JSON
line per check's call and per set-up or tear-down that did not pass to the file named by
``PROVISION_VERIFY_RESULTS``: the host (from testinfra's host parameter), the check's id
without the host, and whether it passed (or was skipped) with the first line of why not.
``read`` turns the lines into ``Check``s per host.
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pytest

from provision.core import compat

ENV = "PROVISION_VERIFY_RESULTS"
MESSAGE_CHARS = 300


@dataclass
class Check:
    """One check on one host."""

    id: str
    passed: bool
    message: str = ""


def check_id(item) -> tuple[str, str] | None:
    """``(host, id)`` of a collected check: the inventory host it runs against and its name
    with the other parameters (``test_service[docker]``); ``None`` for other tests."""
    host_id = compat.testinfra_host_id(item)
    if host_id is None:
        return None
    params = item.callspec.id
    if params.startswith(host_id):
        params = params[len(host_id) :].lstrip("-")
    elif params.endswith(host_id):
        params = params[: -len(host_id)].rstrip("-")
    name = f"{item.originalname}[{params}]" if params else item.originalname
    return host_id.removeprefix("ssh://"), name


def message(report, call) -> str:
    """Why a phase failed, in one line: an unreadable host's whole sentence, else the first
    line of pytest's own summary of the failure, cut at ``MESSAGE_CHARS``."""
    from .probe import ProbeError

    error = call.excinfo.value if call.excinfo is not None else None
    if isinstance(error, ProbeError):
        return str(error).splitlines()[0]
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    lines = text.strip().splitlines()
    return lines[0][:MESSAGE_CHARS] if lines else "failed"


_RECORDS = pytest.StashKey[TextIO]()


def pytest_configure(config: pytest.Config) -> None:
    where = os.environ.get(ENV)
    if where:  # one file for the session, a line written as each phase ends
        config.stash[_RECORDS] = open(where, "a", encoding="utf-8", buffering=1)  # noqa: SIM115


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collected checks (a few per host) live until the run ends: out of the cyclic
    collector's scans, which would otherwise walk all of them again and again."""
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    records = config.stash.get(_RECORDS, None)
    if records is not None:
        records.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    records = item.config.stash.get(_RECORDS, None)
    if records is None or (report.passed and report.when != "call"):
        return  # a set-up or tear-down that passed says nothing the call does not
    found = check_id(item)
    if found is None:
        return
    record = {"host": found[0], "id": found[1], "passed": report.passed}
    if report.skipped:
        record["skipped"] = True
    if report.failed:
        record["message"] = message(report, call)
    records.write(json.dumps(record) + "\n")


def read(path: Path, hosts: list[str]) -> dict[str, list[Check]]:
    """Each of ``hosts``' checks from the lines the plugin wrote, in the order they ran: a
    check fails when any of its phases failed, with the first failure's message; a skipped
    check is left out."""
    found: dict[str, dict[str, Check]] = {host: {} for host in hosts}
    skipped: set[tuple[str, str]] = set()
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        record = json.loads(line)
        checks = found.get(record["host"])
        if checks is None:
            continue  # a host not asked for
        check = checks.setdefault(record["id"], Check(record["id"], True))
        if record.get("skipped"):
            skipped.add((record["host"], record["id"]))
        elif check.passed and not record["passed"]:
            check.passed, check.message = False, record.get("message", "failed")
    return {
        host: [check for check in checks.values() if (host, check.id) not in skipped]
        for host, checks in found.items()
    }
