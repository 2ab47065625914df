"""Controller cost at fleet scale: the real idempotent deploy on N converged ``@fake`` hosts.

``bench/run.py --scale`` runs each size in a process of its own (``bench/scale.py N
[apply|status]``) and prints controller CPU per host, peak RSS and how the cost per host grows
with the fleet.
The hosts are pyinfra's ``@fake`` connector answering every command as a converged Debian 12
host would (the unit tests' ``tests/unit/fakes.py``); everything above the connector is the
real run: ``run_deploy`` with ``install_docker``, results, change report and JSON report.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = [100, 1000, 5000]
KINDS = ["apply", "status"]
TARGETS = {  # figure -> upper limit
    "cpu_ms_per_host": 25.0,  # controller CPU per idempotent host, at every size
    "cpu_ratio": 1.2,  # CPU per host at the largest size / at the smallest
    "rss_mib": 300.0,  # peak RSS at the largest size
}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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

    startup.started()  # as the provision command does

    # one data dict for all hosts, as an inventory's group data is
    data = {
        "fake_responses": fake_responses(converged_machine()),
        "fake_delay": 0,
        "fake_delay_jitter": 0,
    }
    inventory = Inventory(([(f"@fake/host{i}", data) for i in range(count)], {}))
    fleet = Fleet("scale.py", inventory, list(inventory))
    started_cpu, started = cpu_s(), time.perf_counter()
    if kind == "status":
        settings = fleet.settings(profile("docker").checks)
        result = run_deploy(
            fleet, install_docker, kind, dry=True, inspect=lambda name: inspect_host(settings[name])
        )
        report.status_table(result)
    else:
        result = run_deploy(fleet, install_docker, kind)
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
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "operations_per_host": result.hosts[first.name].operations,
        "commands_per_host": len(first.connector.executed_commands),
        "report_bytes": len(document),
    }


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from provision.core import startup

    startup.starting()
    print(json.dumps(measure(int(argv[0]), *argv[1:2])), flush=True)
    startup.started()  # frozen: no collection over the whole heap on the way out
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
