"""Performance harness: cold, idempotent, verify, audit and exec timings on fresh lab hosts.

Run as root: ``.venv/bin/python bench/run.py [--hosts 1,8,32] [--runs 5] [--cold-pairs 3]
[--json FILE] [--keep-lab] [--audit-only] [--scale | --no-scale] [--scale-hosts 100,1000,5000]``.
It first measures the controller at fleet scale on ``@fake`` hosts (``bench/scale.py``; alone
with ``--scale``), then starts (or reuses) the lab selected by the ``PROVISION_LAB_*``
variables, RESETS lab1..labN to fresh hosts, prints a table and writes JSON (default
bench/results/latest.json). With ``--audit-only`` it installs Docker where needed (no reset)
and times only the audit beside the verification suite. See docs/performance.md for what each
figure means.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyinfra
from pyinfra.api.host import Host

from provision.audit.runner import audit
from provision.docker.deploy import PREREQUISITES, install_docker
from provision.docker.layout import KEYRING, SOURCES, sources_text
from provision.orchestrate.exec import run_command
from provision.orchestrate.inventory import load
from provision.orchestrate.run import run_deploy
from provision.profiles import profile
from provision.verify.run import verify
from provision_lab.errors import LabError
from provision_lab.lab import Lab
from provision_lab.ssh import ssh_command

try:
    from bench import scale
except ImportError:  # run as a script: bench/ is on the path, not its parent
    import scale  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = str(ROOT / "inventories" / "lab.py")
CLI = str(Path(sys.executable).with_name("provision"))
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
# the baseline of the CLI figure: plain pyinfra, one operation that changes nothing
PYINFRA_NOOP = [PYINFRA, "-y", INVENTORY, "--limit", "lab1", "files.directory", "path=/tmp"]
SUITES = ["bookworm", "trixie"]  # alternated: lab1, lab3, ... bookworm; lab2, lab4, ... trixie
COLD_HOST, FLOOR_HOST = "lab1", "lab3"  # both bookworm
MAX_HOSTS = 32
TARGETS = {  # figure -> upper limit (seconds, a ratio, or MiB)
    "cold_ratio": 1.15,
    "cli_ratio": 1.0,
    "idempotent_1": 1.5,
    "idempotent_8": 3.0,
    "idempotent_32": 3.0,
    "verify_1": 3.0,
    "verify_8": 6.0,
    "verify_32": 10.0,
    "audit_ratio": 1.5,  # audit / verify, same hosts
    "rss_32": 150.0,
    "cpu_ratio": 1.5,  # idempotent CLI apply / plain pyinfra no-op, controller CPU, largest size
}


# Running things
def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def names(count: int) -> list[str]:
    return [f"lab{i}" for i in range(1, count + 1)]


def apply(hosts: list[str]):
    """The library call users make: load the inventory, connect, run the deploy."""
    result = run_deploy(load(INVENTORY, hosts), install_docker, "apply")
    failed = {n: r.error for n, r in result.hosts.items() if r.status == "failed"}
    if failed:
        raise SystemExit(f"bench: apply failed on {failed}")
    return result


def check(hosts: list[str]):
    result = verify(load(INVENTORY, hosts))
    if not result.ok:
        raise SystemExit(f"bench: verify failed: {json.dumps(result.as_dict()['hosts'])}")
    return result


def audit_fleet(hosts: list[str]):
    fleet = load(INVENTORY, hosts)
    result = audit(fleet, fleet.settings(profile("docker").checks))
    unread = {name: host.error for name, host in result.hosts.items() if host.error}
    if unread:
        raise SystemExit(f"bench: audit could not read {unread}")
    return result


def audit_figures(sizes: list[int], runs: int, verify_figures: dict) -> dict:
    """``{n: median of the audit of lab1..labN, and its ratio to verify's median}``."""
    figures = {}
    for n in sizes:
        say(f"audit on {n} host(s), {runs} runs")
        fig = median_of(runs, audit_fleet, names(n))
        fig["verify_ratio"] = fig["median_s"] / verify_figures[n]["median_s"]
        figures[n] = fig
    return figures


def measure_audit(lab: Lab, sizes: list[int], runs: int) -> dict:
    """``--audit-only``: lab1..labN installed (as they are, or now), verify and audit timed."""
    say(f"lab up: {sizes[-1]} hosts")
    lab.up(sizes[-1], SUITES)
    apply(names(sizes[-1]))
    verify_figures = {n: median_of(runs, check, names(n)) for n in sizes}
    return {
        "verify": verify_figures,
        "audit": audit_figures(sizes, runs, verify_figures),
        "cpu_count": os.cpu_count(),
        "load_average": [os.getloadavg()[0]],
    }


def audit_rows(figures: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for n, fig in figures["audit"].items():
        verify_s, ratio = figures["verify"][n]["median_s"], fig["verify_ratio"]
        rows.append((f"audit, {n} host(s), median (library)", f"{fig['median_s']:.2f} s", "", ""))
        rows.append(("  verify, same host(s), median", f"{verify_s:.2f} s", "", ""))
        rows.append(
            (f"  audit / verify, {n} host(s)", f"{ratio:.2f}", *verdict(ratio, "audit_ratio"))
        )
    return rows


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def median_of(runs: int, fn, *args) -> dict:
    times = [timed(fn, *args) for _ in range(runs)]
    return {"median_s": statistics.median(times), "runs_s": [round(t, 3) for t in times]}


# Runs in a plain interpreter: the harness's own (gevent, through provision) reaps children
# itself, so os.wait4 and its resource usage are out of its reach.
MEASURE = """\
import json, os, subprocess, sys, time
started = time.perf_counter()
process = subprocess.Popen(sys.argv[2:], stdout=sys.stdout, stderr=subprocess.STDOUT)
fds = 0
while True:
    pid, status, usage = os.wait4(process.pid, os.WNOHANG)
    if pid:
        break
    try:
        fds = max(fds, len(os.listdir(f"/proc/{process.pid}/fd")))
    except OSError:  # it just ended
        pass
    time.sleep(0.01)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "max_rss_mib": usage.ru_maxrss / 1024, "max_fds": fds,
               "cpu_s": usage.ru_utime + usage.ru_stime,
               "code": os.waitstatus_to_exitcode(status)}, out)
"""


def child(argv: list[str], stdin: str | None = None) -> dict:
    """Run a child process; its wall time, CPU time and max RSS (``wait4``: this child and the
    children it waited for) and the most file descriptors it had open at once
    (``/proc/PID/fd``, sampled every 10 ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.json"
        process = subprocess.run(
            [sys.executable, "-I", "-c", MEASURE, str(figures), *argv],
            input=stdin or "",
            capture_output=True,
            text=True,
        )
        data = json.loads(figures.read_text()) if figures.exists() else {"code": -1}
    if process.returncode != 0 or data["code"] != 0:
        output = process.stdout + process.stderr
        raise SystemExit(f"bench: {shlex.join(argv)} failed:\n{output[-2000:]}")
    return {key: data[key] for key in ("seconds", "max_rss_mib", "max_fds", "cpu_s")}


RESET_RETRIES: list[str] = []  # reported: hosts that needed a second boot


def fresh(lab: Lab, host: str, attempts: int = 3) -> None:
    """Reset ``host`` to its base; retried because concurrent lab boots can race (see docs)."""
    for attempt in range(1, attempts + 1):
        try:
            lab.reset(host)
            return
        except LabError as error:
            if attempt == attempts:
                raise
            RESET_RETRIES.append(host)
            say(f"{host} did not come up ({error}); resetting it again")


def limits(hosts: list[str]) -> list[str]:
    return [arg for name in hosts for arg in ("--limit", name)]


def cli_apply(hosts: list[str]) -> dict:
    return child([CLI, "apply", "-i", INVENTORY, *limits(hosts)])


def cli_exec(hosts: list[str]) -> dict:
    return child([CLI, "exec", "-i", INVENTORY, *limits(hosts), "--", "true"])


def cli_verify(hosts: list[str]) -> dict:
    return child([CLI, "verify", "-i", INVENTORY, *limits(hosts)])


def pyinfra_noop(hosts: list[str]) -> dict:
    """Plain pyinfra, one operation that changes nothing, on ``hosts``."""
    return child([PYINFRA, "-y", INVENTORY, *limits(hosts), "files.directory", "path=/tmp"])


def cpu_against_noop(hosts: list[str], runs: int) -> dict:
    """Controller CPU of the idempotent CLI apply and of plain pyinfra's no-op on ``hosts``,
    ``runs`` of each in turn: CPU time only grows when other work shares the cores (here the
    hosts' own), so the least of each is compared."""
    say(f"CLI apply against a plain pyinfra no-op on {len(hosts)} hosts, {runs} runs each")
    applied, plain = [], []
    for _ in range(runs):
        applied.append(cli_apply(hosts)["cpu_s"])
        plain.append(pyinfra_noop(hosts)["cpu_s"])
    return {
        "hosts": len(hosts),
        "cpu_s": min(plain),
        "cli_cpu_s": min(applied),
        "cpu_runs_s": [round(t, 3) for t in plain],
        "cli_cpu_runs_s": [round(t, 3) for t in applied],
    }


def exec_true(hosts: list[str]):
    """``provision exec -- true`` as a library call: connect, run, close."""
    result = run_command(load(INVENTORY, hosts), "true")
    if not result.ok:
        raise SystemExit(f"bench: exec failed: {json.dumps(result.as_dict()['hosts'])}")
    return result


def ssh(lab: Lab, host: str, command: str) -> str:
    result = subprocess.run(ssh_command(lab.config, host, command), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench: {host}: {command!r} failed: {result.stderr.strip()}")
    return result.stdout


# Measurements
def floor_script(host: str) -> str:
    """The steps of Docker's install guide as one shell script (same packages as the deploy)."""
    settings = load(INVENTORY, [host]).settings(profile("docker").checks)[host]
    apt = "DEBIAN_FRONTEND=noninteractive apt-get -q -y"
    codename = '$(. /etc/os-release && echo "$VERSION_CODENAME")'
    sources = sources_text(settings, "debian", codename, "$(dpkg --print-architecture)")
    return "\n".join(
        [
            "set -e",
            f"{apt} update",
            f"{apt} install --no-install-recommends {' '.join(PREREQUISITES)}",
            "install -m 0755 -d /etc/apt/keyrings",
            f"curl -fsSL {settings.key_url('debian')} -o {KEYRING}",
            f"chmod a+r {KEYRING}",
            f"cat > {SOURCES} <<EOF\n{sources}EOF",
            f"{apt} update",
            f"{apt} install --no-install-recommends {' '.join(settings.docker_packages)}",
        ]
    )


def installed_packages(lab: Lab, host: str) -> set[str]:
    return set(ssh(lab, host, "dpkg-query -W -f='${Package}\\n'").split())


def floor(lab: Lab, host: str) -> float:
    """Docker's guide as one script over one SSH session (connection included)."""
    command = ssh_command(lab.config, host, "sudo sh -s")
    return child(command, stdin=floor_script(host))["seconds"]


def cold_vs_floor(lab: Lab, pairs: int) -> dict:
    """Cold apply on fresh lab1 against the floor on fresh lab3, ``pairs`` times.

    The order alternates (the Debian mirror and the machine are noisy); medians are compared.
    """
    say(f"cold apply on {COLD_HOST} against the floor on {FLOOR_HOST}, {pairs} pair(s)")
    cold, bare = [], []
    for pair in range(pairs):
        for host in (COLD_HOST, FLOOR_HOST):
            fresh(lab, host)
        steps = [
            lambda: cold.append(timed(apply, [COLD_HOST])),
            lambda: bare.append(floor(lab, FLOOR_HOST)),
        ]
        for step in steps if pair % 2 == 0 else reversed(steps):
            step()
    same = installed_packages(lab, COLD_HOST) == installed_packages(lab, FLOOR_HOST)
    return {
        "cold_s": statistics.median(cold),
        "floor_s": statistics.median(bare),
        "ratio": statistics.median(cold) / statistics.median(bare),
        "cold_runs_s": [round(t, 3) for t in cold],
        "floor_runs_s": [round(t, 3) for t in bare],
        "same_packages": same,
    }


def host_journal(lab: Lab, host: str) -> Counter:
    """SSH logins and sudo commands in the host's journal, read from its root on this machine."""
    journal = lab.machine(host).root / "var/log/journal"
    time.sleep(1.0)  # let journald take in the last lines
    text = subprocess.run(
        ["journalctl", "-D", str(journal), "-o", "cat", "--no-pager"],
        capture_output=True,
        text=True,
    ).stdout
    return Counter(
        logins=text.count("Accepted publickey"),
        sudo=sum(1 for line in text.splitlines() if "COMMAND=" in line),
    )


def round_trips(lab: Lab, host: str) -> dict:
    """Commands and connections of one idempotent run on ``host``."""
    commands: list[str] = []
    original = Host.run_shell_command

    def counting(self, command, *args, **kwargs):
        if self.name == host:
            commands.append(str(command))
        return original(self, command, *args, **kwargs)

    before = host_journal(lab, host)
    Host.run_shell_command = counting
    try:
        apply([host])
    finally:
        Host.run_shell_command = original
    after = host_journal(lab, host)
    return {
        "commands_pyinfra": len(commands),
        "commands_sudo_log": after["sudo"] - before["sudo"],
        "ssh_connections": after["logins"] - before["logins"],
        "commands": commands,
    }


def compile_bytecode() -> bool:
    """Compile the project's modules ahead, as ``pip install`` does for an installed package
    (and for pyinfra here): an editable checkout run with ``PYTHONDONTWRITEBYTECODE`` set
    would compile them again in every command it starts, about 60 ms each time."""
    return compileall.compile_dir(str(ROOT / "provision"), quiet=1)


def start_up(runs: int) -> dict:
    """Idempotent `provision apply` on lab1 against plain pyinfra's one-operation no-op on lab1
    (alternating, medians), and `provision --help`: what a user waits for at the prompt."""
    say(f"CLI apply on lab1 against a plain pyinfra no-op, {runs} runs each; provision --help")
    cli, plain = [], []
    for _ in range(runs):
        cli.append(cli_apply(["lab1"])["seconds"])
        plain.append(child(PYINFRA_NOOP)["seconds"])
    helps = [child([CLI, "--help"])["seconds"] for _ in range(runs)]
    return {
        "cli_apply_s": statistics.median(cli),
        "pyinfra_noop_s": statistics.median(plain),
        "ratio": statistics.median(cli) / statistics.median(plain),
        "help_s": statistics.median(helps),
        "cli_apply_runs_s": [round(t, 3) for t in cli],
        "pyinfra_noop_runs_s": [round(t, 3) for t in plain],
        "help_runs_s": [round(t, 3) for t in helps],
    }


def converge(lab: Lab, count: int) -> dict:
    """Fresh lab1..labN, then one cold apply of all of them in parallel (the real CLI)."""
    say(f"resetting lab1..lab{count}, then a cold apply of all {count}")
    for host in names(count):  # one at a time: boots side by side race in systemd-nspawn
        fresh(lab, host)
    return cli_apply(names(count))


def fleet_scale(sizes: list[int], runs: int) -> dict:
    """``bench/scale.py`` per kind (idempotent apply, status, verify) and size, each in a process
    of its own, ``runs`` times per size: CPU time only grows when other work shares the cores,
    so the least of the runs is the tool's own cost. The sizes take turns (100, 1,000, 5,000,
    100, ...), so that every size gets the same chance of a quiet run."""
    figures: dict = {kind: {} for kind in scale.KINDS}
    for kind in scale.KINDS:
        repeats = max(1, runs)
        say(f"scale: {kind} on {', '.join(map(str, sizes))} hosts without a lab, {repeats} runs")
        done: dict[int, list] = {count: [] for count in sizes}
        for _ in range(repeats):
            for count in sizes:
                process = subprocess.run(
                    [sys.executable, str(ROOT / "bench/scale.py"), str(count), kind],
                    capture_output=True,
                    text=True,
                )
                if process.returncode != 0:
                    raise SystemExit(f"bench: scale {count} failed:\n{process.stderr[-2000:]}")
                done[count].append(json.loads(process.stdout.splitlines()[-1]))
        for count, each in done.items():
            best = min(each, key=lambda fig: fig["cpu_s"])
            figures[kind][count] = {
                **best,
                "rss_mib": max(fig["rss_mib"] for fig in each),
                "cpu_ms_runs": [round(fig["cpu_ms_per_host"], 2) for fig in each],
            }
    return figures


def scale_rows(figures: dict) -> list[tuple[str, str, str, str]]:
    rows = []

    def add(label, value, target=None, raw=None):
        limit = scale.TARGETS.get(target)
        rows.append((label, value, *(check(raw, limit) if limit else ("", ""))))

    def check(value, limit):
        return f"≤ {limit:g}", "met" if value <= limit else f"MISSED by {value / limit - 1:.0%}"

    for kind, by_size in figures.items():
        what = "idempotent apply" if kind == "apply" else kind
        sizes = sorted(by_size)
        for n in sizes:
            fig = by_size[n]
            add(f"scale: {what}, {n} hosts, CPU", f"{fig['cpu_s']:.1f} s")
            add(
                f"  controller CPU per host, {n} hosts",
                f"{fig['cpu_ms_per_host']:.1f} ms",
                "cpu_ms_per_host",
                fig["cpu_ms_per_host"],
            )
            target = "rss_mib" if n == sizes[-1] else None
            add(f"  peak RSS, {n} hosts", f"{fig['rss_mib']:.0f} MiB", target, fig["rss_mib"])
            add(f"  wall time, {n} hosts", f"{fig['wall_s']:.1f} s")
        if len(sizes) > 1:
            first, last = by_size[sizes[0]], by_size[sizes[-1]]
            ratio = last["cpu_ms_per_host"] / first["cpu_ms_per_host"]
            add(
                f"scale: {what}, CPU per host, {sizes[-1]} / {sizes[0]} hosts",
                f"{ratio:.2f}",
                "cpu_ratio",
                ratio,
            )
            grown = (last["rss_mib"] - first["rss_mib"]) / (sizes[-1] - sizes[0]) * 1024
            add(f"scale: {what}, RSS per extra host", f"{grown:.0f} KiB")
        first = by_size[sizes[0]]
        if kind == "verify":
            add(f"scale: {what}, checks per host", str(first["checks_per_host"]))
        else:
            add(
                f"scale: {what}, operations, commands per host",
                f"{first['operations_per_host']}, {first['commands_per_host']}",
            )
    return rows


# Output
def table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("measurement", "value", "target", "")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    )


def verdict(value: float, target: str) -> tuple[str, str]:
    limit = TARGETS[target]
    return f"≤ {limit:g}", "met" if value <= limit else f"MISSED by {value / limit - 1:.0%}"


def rows_of(figures: dict) -> list[tuple[str, str, str, str]]:
    rows = []

    def add(label, value, target=None, raw=None):
        """A row; checked against ``TARGETS[target]`` when there is one."""
        rows.append((label, value, *(verdict(raw, target) if target in TARGETS else ("", ""))))

    cold = figures["cold"]
    add("cold apply, 1 host (bookworm), median", f"{cold['cold_s']:.1f} s")
    add("floor: guide as 1 script, 1 SSH, median", f"{cold['floor_s']:.1f} s")
    add("cold / floor", f"{cold['ratio']:.2f}", "cold_ratio", cold["ratio"])
    add("  same packages installed", "yes" if cold["same_packages"] else "NO")
    big = figures["converge"]
    add(f"cold apply, {big['hosts']} hosts (CLI)", f"{big['seconds']:.1f} s")
    rss = big["max_rss_mib"]
    add(
        f"  controller max RSS, {big['hosts']} hosts cold",
        f"{rss:.0f} MiB",
        f"rss_{big['hosts']}",
        rss,
    )
    add(f"  controller max open fds, {big['hosts']} hosts cold", str(big["max_fds"]))
    for kind in ("idempotent", "verify", "exec"):
        for n, fig in figures[kind].items():
            median = fig["median_s"]
            add(f"{kind}, {n} host(s), median (library)", f"{median:.2f} s", f"{kind}_{n}", median)
            if kind in ("idempotent", "exec"):
                rss = fig["cli_max_rss_mib"]
                add(f"  CLI {kind}, {n} host(s), 1 run", f"{fig['cli_s']:.2f} s")
                add(f"  CLI max RSS, {n} host(s)", f"{rss:.0f} MiB", f"rss_{n}", rss)
                add(f"  CLI max open fds, {n} host(s)", str(fig["cli_max_fds"]))
    for kind in ("idempotent", "verify", "exec"):
        for n, fig in figures[kind].items():
            add(
                f"CLI {kind}, {n} host(s): controller CPU per host",
                f"{fig['cli_cpu_s'] / n * 1000:.0f} ms",
            )
    noop, n = figures["noop"], figures["noop"]["hosts"]
    add(
        f"plain pyinfra no-op, {n} host(s): controller CPU, least of runs", f"{noop['cpu_s']:.2f} s"
    )
    add(f"CLI apply, {n} host(s): controller CPU, least of runs", f"{noop['cli_cpu_s']:.2f} s")
    ratio = noop["cli_cpu_s"] / noop["cpu_s"]
    add(f"CLI apply CPU / pyinfra no-op CPU, {n} host(s)", f"{ratio:.2f}", "cpu_ratio", ratio)
    rows += audit_rows(figures)
    start = figures["start_up"]
    add("CLI apply, 1 host, idempotent, median", f"{start['cli_apply_s']:.2f} s")
    add("plain pyinfra, 1 no-op operation, median", f"{start['pyinfra_noop_s']:.2f} s")
    add("CLI apply / pyinfra no-op", f"{start['ratio']:.2f}", "cli_ratio", start["ratio"])
    add("provision --help, median", f"{start['help_s']:.2f} s")
    trips = figures["round_trips"]
    add("idempotent, 1 host: commands (pyinfra)", str(trips["commands_pyinfra"]))
    add("idempotent, 1 host: sudo commands (host log)", str(trips["commands_sudo_log"]))
    add("idempotent, 1 host: SSH logins (host log)", str(trips["ssh_connections"]))
    for kind in ("idempotent", "verify", "exec"):
        sizes = sorted(figures[kind])
        if len(sizes) > 1:
            first, last = figures[kind][sizes[0]], figures[kind][sizes[-1]]
            add(
                f"{kind} {sizes[-1]} / {sizes[0]} host(s)",
                f"{last['median_s'] / first['median_s']:.2f}",
            )
    add("cores (os.cpu_count)", str(figures["cpu_count"]))
    add("load average (1 min) at start, end", "{:.1f}, {:.1f}".format(*figures["load_average"]))
    add("harness wall time", f"{figures['harness_s']:.0f} s")
    return rows


NOTES = """\
how measured: controller CPU is user + system time of the CLI child and the children it
waited for (wait4: pytest of verify, ssh); wall times include connecting; "library" is
load() + run_deploy(), verify(), audit() or run_command() in this process, "CLI" the real
`provision apply`, `provision verify` or `provision exec -- true` as a child process, its
modules compiled ahead as an installed package's are (max RSS via wait4; open fds: the most
entries of /proc/PID/fd, sampled every 10 ms). commands (pyinfra): calls of
pyinfra.api.host.Host.run_shell_command for the host, patched in-process; sudo commands and
SSH logins: sudo "COMMAND=" and sshd "Accepted publickey" lines added to the host's own
journal (read with journalctl -D from its root)."""
SCALE_NOTES = """\
how measured (scale): bench/scale.py N KIND in a process of its own: one idempotent apply
(or status: its dry run, each host's status facts and the status table) on N converged @fake
hosts (pyinfra's fake connector answering as a converged Debian 12 host);
or verify: the real verify, pytest and testinfra on N hosts whose ssh (a stand-in first on
PATH) prints a converged Debian 12 host's probe answer, then its table, JSON and JUnit reports;
controller CPU (user + system, of the process and the children it waited for: pytest, the
ssh stand-ins) from run_deploy or verify to the JSON report, the least of the runs;
peak RSS of that process plus its largest child's (getrusage ru_maxrss)."""


# Main
def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hosts", default="1,8,32", help=f"fleet sizes, comma-separated (≤ {MAX_HOSTS})"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per median")
    parser.add_argument(
        "--cold-pairs", type=int, default=3, help="cold apply / floor pairs (median)"
    )
    parser.add_argument(
        "--scale",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only the fleet-scale figures on @fake hosts (--no-scale: only the lab's)",
    )
    parser.add_argument(
        "--scale-hosts",
        default=",".join(map(str, scale.SIZES)),
        help="fleet sizes of the scale figures, comma-separated",
    )
    parser.add_argument("--json", help="default: bench/results/latest.json (audit.json)")
    parser.add_argument(
        "--keep-lab",
        action="store_true",
        help="leave the lab running (it is taken down when this run started it)",
    )
    parser.add_argument(
        "--audit-only",
        action="store_true",
        help="time only verify and audit (installing Docker where missing, no reset)",
    )
    args = parser.parse_args(argv)
    name = "audit.json" if args.audit_only else "latest.json"
    args.json = args.json or str(ROOT / "bench" / "results" / name)
    args.sizes = sorted({int(n) for n in args.hosts.split(",")})
    args.scale_sizes = sorted({int(n) for n in args.scale_hosts.split(",")})
    if args.sizes[0] < 1 or args.sizes[-1] > MAX_HOSTS or min(args.runs, args.cold_pairs) < 1:
        parser.error(
            f"--hosts must be between 1 and {MAX_HOSTS}, --runs and --cold-pairs at least 1"
        )
    return args


def measure(lab: Lab, sizes: list[int], runs: int, cold_pairs: int) -> dict:
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    count = max(sizes[-1], 3)  # the floor needs lab3, the second bookworm host
    say(f"lab up: {count} hosts")
    try:
        lab.up(count, SUITES)
    except LabError as error:  # a host that did not boot is reset below like the others
        say(f"lab up: {error}")
    figures = {"converge": {"hosts": count, **converge(lab, count)}}
    figures["idempotent"], figures["verify"], figures["exec"] = {}, {}, {}
    for n in sizes:
        say(f"idempotent apply, verify and exec on {n} host(s), {runs} runs each")
        for kind, library, cli_run in (
            ("idempotent", apply, cli_apply),
            ("exec", exec_true, cli_exec),
        ):
            fig = median_of(runs, library, names(n))
            cli = cli_run(names(n))
            fig.update(
                cli_s=cli["seconds"],
                cli_max_rss_mib=cli["max_rss_mib"],
                cli_max_fds=cli["max_fds"],
                cli_cpu_s=cli["cpu_s"],
            )
            figures[kind][n] = fig
        figures["verify"][n] = median_of(runs, check, names(n))
        figures["verify"][n]["cli_cpu_s"] = cli_verify(names(n))["cpu_s"]
    figures["noop"] = cpu_against_noop(names(sizes[-1]), runs)
    figures["audit"] = audit_figures(sizes, runs, figures["verify"])
    figures["start_up"] = start_up(runs)
    figures["round_trips"] = round_trips(lab, "lab1")
    figures["cold"] = cold_vs_floor(lab, cold_pairs)
    figures.update(
        cpu_count=os.cpu_count(),
        load_average=[load_before, os.getloadavg()[0]],
        reset_retries=RESET_RETRIES,
        harness_s=time.perf_counter() - started,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if not compile_bytecode():
        raise SystemExit("bench: the project's modules did not compile")
    figures, rows = {}, []
    if args.scale is not False and not args.audit_only:
        figures["scale"] = fleet_scale(args.scale_sizes, args.runs)
        rows += scale_rows(figures["scale"])
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": args.runs,
        "pyinfra": pyinfra.__version__,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    if not args.scale:
        lab = Lab()
        was_up = bool(lab.state["hosts"])
        if args.audit_only:
            say(f"lab {lab.config.lab_dir} (bridge {lab.config.bridge}): lab1..lab{args.sizes[-1]}")
        else:
            say(
                f"lab {lab.config.lab_dir} (bridge {lab.config.bridge}): lab1..lab"
                f"{max(args.sizes[-1], 3)} will be reset to fresh hosts"
            )
        try:
            if args.audit_only:
                figures.update(measure_audit(lab, args.sizes, args.runs))
            else:
                figures.update(measure(lab, args.sizes, args.runs, args.cold_pairs))
        except LabError as error:
            say(str(error))
            return 2
        finally:
            if not (was_up or args.keep_lab):
                Lab().down()
        rows += audit_rows(figures) if args.audit_only else rows_of(figures)
        meta.update(cold_pairs=args.cold_pairs, lab_dir=str(lab.config.lab_dir))
    print(table(rows))
    print(
        "\n".join(
            [*([SCALE_NOTES] if "scale" in figures else []), *([NOTES] if not args.scale else [])]
        )
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**meta, "figures": figures, "table": rows}, indent=2) + "\n")
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
