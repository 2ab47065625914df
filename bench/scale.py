"""Controller cost at fleet scale: the real idempotent deploy, and the real verification, on
N converged hosts without a lab.

``bench/run.py --scale`` runs each size in a process of its own (``bench/scale.py N
[apply|status|verify]``) and prints controller CPU per host, peak RSS and how the cost per host
grows with the fleet.
For ``apply`` and ``status`` the hosts are pyinfra's ``@fake`` connector answering every command
as a converged Debian 12 host would (the unit tests' ``tests/unit/fakes.py``); everything above
the connector is the real run: ``run_deploy`` with ``install_docker``, results, change report and
JSON report. For ``verify`` the stand-in is the ``ssh`` program: one placed first on ``PATH``
prints a converged Debian 12 host's answer to the probe (``tests/unit/converged_probe.py``) for
every host; everything above it is the real ``verify``: pytest, testinfra's ssh backend, the
probe's parsing, the checks, their results, the table, JSON and JUnit reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = [100, 1000, 5000]
KINDS = ["apply", "status", "verify"]
TARGETS = {  # figure -> upper limit
    "cpu_ms_per_host": 25.0,  # controller CPU per idempotent host, at every size
    "cpu_ratio": 1.2,  # CPU per host at the largest size / at the smallest
    "rss_mib": 300.0,  # peak RSS at the largest size
}


def cpu_s() -> float:
    """CPU time (user + system) of this process and of the children it waited for."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def rss_mib() -> float:
    """This process's peak RSS and its largest child's (both may be alive at once)."""
    return (
        sum(
            resource.getrusage(who).ru_maxrss
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        / 1024
    )


def measure(count: int, kind: str = "apply") -> dict:
    """One idempotent apply (or ``status``: the dry run with each host's status facts and
    the status table) on ``count`` converged hosts, in this process; the controller's CPU
    from connecting to the JSON report, and this process's peak RSS."""
    from pyinfra.api import Inventory

    from provision.core import startup
    from provision.docker.deploy import install_docker
    from provision.docker.status import inspect_host
    from provision.orchestrate.inventory import Fleet
    from provision.orchestrate.run import run_deploy
    from provision.profiles import profile
    from provision.report import tables as report
    from tests.unit.fakes import converged_machine, fake_responses

    # one data dict for all hosts, as an inventory's group data is
    data = {
        "fake_responses": fake_responses(converged_machine()),
        "fake_delay": 0,
        "fake_delay_jitter": 0,
    }
    inventory = Inventory(([(f"@fake/host{i}", data) for i in range(count)], {}))
    fleet = Fleet("scale.py", inventory, list(inventory))
    startup.started()  # as the provision command does once its inventory is loaded
    started_cpu, started = cpu_s(), time.perf_counter()
    if kind == "status":
        settings = fleet.settings(profile("docker").checks)
        result = run_deploy(
            fleet, install_docker, kind, dry=True, inspect=lambda name: inspect_host(settings[name])
        )
        startup.started()  # as the command's ``finish`` does before its reports
        report.status_table(result)
    else:
        result = run_deploy(fleet, install_docker, kind)
        startup.started()  # as the command's ``finish`` does before its reports
    document = json.dumps(result.as_dict())
    cpu, wall = cpu_s() - started_cpu, time.perf_counter() - started
    statuses = sorted({host.status for host in result.hosts.values()})
    if statuses != ["unchanged"]:
        failed = [h.error for h in result.hosts.values() if h.status != "unchanged"][:3]
        raise SystemExit(f"scale: {count} hosts ended {statuses}: {failed}")
    first = fleet.hosts[0]
    return {
        "kind": kind,
        "hosts": count,
        "cpu_s": cpu,
        "cpu_ms_per_host": cpu / count * 1000,
        "wall_s": wall,
        "rss_mib": rss_mib(),
        "operations_per_host": result.hosts[first.name].operations,
        "commands_per_host": len(first.connector.executed_commands),
        "report_bytes": len(document),
    }


# ``ssh`` for the measured process: closing a connection (``-O``) and asking what the client
# offers (``-Q``) print nothing; a command prints the file named after the host (the argument
# before the command) in the directory ``ANSWERS`` names, else its ``default``
STAND_IN_SSH = """#!/bin/sh
for arg; do case "$arg" in -O|-Q) exit 0 ;; esac; host=$last; last=$arg; done
[ -f "$PROVISION_BENCH_ANSWERS/$host" ] || host=default
exec cat "$PROVISION_BENCH_ANSWERS/$host"
"""
ANSWERS = "PROVISION_BENCH_ANSWERS"


@contextlib.contextmanager
def ssh_answering(answers: dict[str, str]):
    """While in this block, ``ssh`` (for this process and its children) prints
    ``answers[host]`` (``answers["default"]`` for other hosts) to any command."""
    with tempfile.TemporaryDirectory(prefix="provision-bench-") as tmp:
        ssh, folder = Path(tmp, "ssh"), Path(tmp, "answers")
        ssh.write_text(STAND_IN_SSH)
        ssh.chmod(0o755)
        folder.mkdir()
        for host, text in answers.items():
            Path(folder, host).write_text(text)
        saved = {key: os.environ.get(key) for key in ("PATH", ANSWERS)}
        os.environ.update({"PATH": f"{tmp}{os.pathsep}{saved['PATH'] or ''}", ANSWERS: str(folder)})
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def converged_answer() -> str:
    """What a converged Debian 12 host prints to the probe with Docker's default settings."""
    from tests.unit.converged_probe import answer, converged

    return answer(converged())


def measure_verify(count: int, answers: dict[str, str] | None = None) -> dict:
    """One ``verify`` of ``count`` hosts (``host0``…) whose ``ssh`` prints ``answers`` (by
    default a converged host's, for every host) to the probe, in this process and the pytest
    processes it starts; the CPU of all of them, from writing the session to the JSON report;
    fails unless every host passed every check."""
    from pyinfra.api import Inventory

    from provision.core import startup
    from provision.orchestrate.inventory import Fleet
    from provision.report import documents
    from provision.report import tables as report
    from provision.verify.run import verify

    inventory = Inventory(([f"host{i}" for i in range(count)], {}))
    fleet = Fleet("scale.py", inventory, list(inventory))
    startup.started()  # as the provision command does once its inventory is loaded
    with ssh_answering(answers or {"default": converged_answer()}):
        started_cpu, started = cpu_s(), time.perf_counter()
        result = verify(fleet)
        startup.started()  # as the command's ``finish`` does before its reports
        report.verify_table(result)
        documents.verify_junit(result)
        document = json.dumps(result.as_dict())
        cpu, wall = cpu_s() - started_cpu, time.perf_counter() - started
    first = result.hosts[fleet.hosts[0].name]
    expected = [check.id for check in first.checks]
    wrong = {
        name: host.error or [f"{c.id}: {c.message}" for c in host.checks if not c.passed]
        for name, host in result.hosts.items()
        if not host.checks or host.failed or [c.id for c in host.checks] != expected
    }
    if wrong or len(result.hosts) != count:
        shown = dict(list(wrong.items())[:3]) or "some hosts are missing"
        raise SystemExit(f"scale: verify on {count} hosts: {len(wrong)} did not pass: {shown}")
    return {
        "kind": "verify",
        "hosts": count,
        "cpu_s": cpu,
        "cpu_ms_per_host": cpu / count * 1000,
        "wall_s": wall,
        "rss_mib": rss_mib(),
        "checks_per_host": len(expected),
        "report_bytes": len(document),
    }


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from provision.core import startup

    startup.starting()
    count, kind = int(argv[0]), (argv[1:2] or ["apply"])[0]
    figures = measure_verify(count) if kind == "verify" else measure(count, kind)
    print(json.dumps(figures), flush=True)
    startup.started()  # frozen: no collection over the whole heap on the way out
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
