"""The ``provision`` command: parse, call the library, print, exit code.

Exit codes: 0 every host fine; 1 a host failed (apply) or a check failed (verify); 2 bad usage,
inventory or settings, reported before any host is touched.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext

import click
from rich.console import Console
from rich.live import Live

from .docker.deploy import install_docker, uninstall_docker
from .docker.errors import SettingsError
from .fleet import interrupt, report, shard
from .fleet import inventory as fleet_inventory
from .fleet.cli import FLEET_COMMANDS, LOCK_WAIT, SHARD, apply_in_batches, locking
from .fleet.errors import UsageError
from .fleet.runner import run_deploy
from .fleet.status import inspect_host
from .lab.cli import lab_group
from .lab.errors import LabError

INVENTORY = click.option(
    "-i",
    "--inventory",
    required=True,
    metavar="FILE",
    help="pyinfra inventory file, e.g. inventories/lab.py.",
)
LIMIT = click.option(
    "--limit",
    multiple=True,
    metavar="HOST_OR_GROUP",
    help="Only these hosts or groups (repeatable, globs allowed).",
)
DATA = click.option(
    "--data",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting for every host, e.g. docker_version=26.1.5.",
)
REPORT = click.option(
    "--report", "report_file", type=click.Path(dir_okay=False), help="Write a JSON report."
)
JUNIT = click.option(
    "--junit", "junit_file", type=click.Path(dir_okay=False), help="Write JUnit XML."
)
PARALLEL = click.option("--parallel", type=click.IntRange(1), help="Hosts at once (default all).")


@click.group()
@click.version_option(package_name="provision")
def cli() -> None:
    """Turn Ubuntu/Debian servers into verified Docker hosts.

    \b
    provision apply  -i INVENTORY   install Docker Engine (idempotent)
    provision verify -i INVENTORY   prove it: the testinfra suite on every host
    provision status -i INVENTORY   what runs where, and what drifted
    provision demo                  all of it on local lab hosts
    """


def load_fleet(path: str, limit, data, shard_spec: str | None = None) -> fleet_inventory.Fleet:
    fleet = fleet_inventory.load(path, limit, fleet_inventory.parse_data(data))
    fleet.settings()  # every settings problem of every host, before anything is touched
    return shard.slice_or_exit(fleet, shard_spec)


def run_with_progress(fleet, deploy, command: str, **kwargs):
    """Run a deploy with a live per-host view on terminals."""
    console = Console(stderr=True)
    live = (
        Live(console=console, refresh_per_second=8, transient=True)
        if console.is_terminal
        else nullcontext()
    )
    with live:

        def progress(results):
            if isinstance(live, Live):
                live.update(report.progress_table(results))

        return run_deploy(fleet, deploy, command, progress=progress, **kwargs)


def finish(result, table, report_path, junit_path, junit_tree) -> None:
    report.print_table(table)
    if report_path:
        report.write_json(report_path, result.as_dict())
    if junit_path:
        report.write_junit(junit_path, junit_tree)
    if getattr(result, "interrupted", None):
        sys.exit(interrupt.exit_code())
    sys.exit(0 if result.ok else 1)


@cli.command()
@INVENTORY
@LIMIT
@click.option("--dry", is_flag=True, help="Show what would change; change nothing.")
@PARALLEL
@click.option(
    "--fail-percent",
    type=click.IntRange(0, 100),
    help="Stop the rollout when more than this percentage of hosts fail (with --batch: of a "
    "batch, default 0).",
)
@click.option(
    "--batch",
    metavar="N|P%",
    help="Roll out N hosts (or P% of them) at a time, verifying each batch before the next.",
)
@click.option(
    "--resume",
    "resume_file",
    type=click.Path(dir_okay=False),
    help="Continue the rollout of this --report: skip the hosts it lists as done.",
)
@SHARD
@LOCK_WAIT
@DATA
@REPORT
@JUNIT
def apply(
    inventory,
    limit,
    dry,
    parallel,
    fail_percent,
    batch,
    resume_file,
    shard_spec,
    lock_wait,
    data,
    report_file,
    junit_file,
):
    """Install and configure Docker Engine on every selected host."""
    fleet = load_fleet(inventory, limit, data, shard_spec)
    with interrupt.graceful():
        if batch or resume_file:
            if dry:
                raise UsageError("--dry cannot be combined with --batch or --resume; drop one.")
            apply_in_batches(
                fleet,
                batch,
                resume_file,
                fail_percent,
                lock_wait,
                run_with_progress,
                report_file,
                junit_file,
            )
        result = run_with_progress(
            fleet,
            install_docker,
            "apply",
            dry=dry,
            parallel=parallel,
            fail_percent=fail_percent,
            locking=None if dry else locking(lock_wait),
        )
        finish(
            result, report.apply_table(result), report_file, junit_file, report.apply_junit(result)
        )


@cli.command()
@INVENTORY
@LIMIT
@PARALLEL
@SHARD
@DATA
@REPORT
@JUNIT
def verify(inventory, limit, parallel, shard_spec, data, report_file, junit_file):
    """Run the verification suite (testinfra) on every selected host."""
    from .verify.runner import verify as run_verify

    fleet = load_fleet(inventory, limit, data, shard_spec)
    result = run_verify(fleet, parallel)
    finish(
        result, report.verify_table(result), report_file, junit_file, report.verify_junit(result)
    )


@cli.command()
@INVENTORY
@LIMIT
@SHARD
@DATA
@REPORT
def status(inventory, limit, shard_spec, data, report_file):
    """Show OS, Docker and compose versions, services and drift; changes nothing."""
    fleet = load_fleet(inventory, limit, data, shard_spec)
    settings = fleet.settings()
    result = run_deploy(
        fleet, install_docker, "status", dry=True, inspect=lambda name: inspect_host(settings[name])
    )
    report.print_table(report.status_table(result))
    if report_file:
        report.write_json(report_file, result.as_dict())
    sys.exit(0 if result.ok else 1)


@cli.command()
@INVENTORY
@LIMIT
@click.option("--purge-data", is_flag=True, help="Also delete /var/lib/docker and containerd.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@DATA
@REPORT
@JUNIT
def uninstall(inventory, limit, purge_data, yes, data, report_file, junit_file):
    """Remove Docker Engine, its repository and key from every selected host."""
    data = (*data, "docker_purge_data=true") if purge_data else data
    fleet = load_fleet(inventory, limit, data)
    if not yes:
        names = ", ".join(h.name for h in fleet.hosts)
        what = " and ALL container data" if purge_data else ""
        click.confirm(f"Remove Docker{what} from {names}?", abort=True)
    with interrupt.graceful():
        result = run_with_progress(fleet, uninstall_docker, "uninstall", locking=locking(300))
        finish(
            result, report.apply_table(result), report_file, junit_file, report.apply_junit(result)
        )


@cli.command()
@click.option(
    "--keep/--down",
    default=True,
    show_default=True,
    help="Leave the lab running afterwards (or tear it down).",
)
def demo(keep):
    """Bring up the lab (bookworm + trixie), apply, verify, and show both tables."""
    from .demo import run_demo

    sys.exit(run_demo(keep))


cli.add_command(lab_group)
for command in FLEET_COMMANDS:
    cli.add_command(command)


def main() -> None:
    """Entry point: errors the user can fix become one line and exit code 2."""
    try:
        cli(standalone_mode=True)
    except (LabError, UsageError, SettingsError) as error:
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
