"""The ``provision`` command: parse, call the library, print, exit code.

Exit codes: 0 every host fine; 1 a host failed (apply) or a check failed (verify); 2 bad usage,
inventory or settings, reported before any host is touched.
"""

from __future__ import annotations

import sys

import click

from . import profiles, startup
from .docker.errors import SettingsError
from .fleet.cli import FLEET_COMMANDS, LOCK_WAIT, SHARD
from .fleet.errors import UsageError
from .lab.cli import lab_group
from .lab.errors import LabError

# pyinfra, testinfra and rich load only inside the commands that use them: `--help`, `lab`
# commands and usage errors stay fast.

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
PARALLEL = click.option(
    "--parallel", type=click.IntRange(1), help="Hosts at once (default: all; verify: up to 32)."
)
PROFILE = click.option(
    "--profile",
    type=click.Choice(profiles.NAMES),
    default="docker",
    show_default=True,
    help="docker: Docker Engine; ci-runner: plus a runner user, pruning and buildx.",
)
JSON = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as one JSON document on stdout, and nothing else there.",
)


@click.group()
@click.version_option(package_name="provision")
def cli() -> None:
    """Turn Ubuntu/Debian servers into verified Docker hosts.

    \b
    provision apply  -i INVENTORY   install Docker Engine (idempotent)
    provision verify -i INVENTORY   prove it: the testinfra suite on every host
    provision status -i INVENTORY   what runs where, and what drifted
    provision audit  -i INVENTORY   the CIS Docker Benchmark on every host
    provision demo                  all of it on local lab hosts
    """


def load_fleet(
    path: str, limit, data, profile: profiles.Profile | None = None, shard_spec: str | None = None
):
    from .fleet import inventory, shard

    fleet = inventory.load(path, limit, inventory.parse_data(data))
    startup.started()
    # every settings problem of every host, before anything is touched
    fleet.settings(profile.check if profile else None)
    return shard.slice_or_exit(fleet, shard_spec)


def run_with_progress(fleet, deploy, command: str, **kwargs):
    """Run a deploy, showing each host's current operation while it runs (on stderr)."""
    from .fleet.runner import run_deploy
    from .progress import Board

    with Board(f"provision {command}") as board:
        return run_deploy(fleet, deploy, command, progress=board.set, **kwargs)


def finish(result, as_json: bool, show, report_path=None, junit_path=None, junit=None):
    """Print ``show(result)`` (with ``--json`` only the JSON document), write reports, exit.

    Every command with a result ends here, so ``--json`` means the same everywhere.
    """
    from .fleet import report

    if as_json:
        click.echo(report.json_text(result.as_dict()))
    else:
        show(result)
    if report_path:
        report.write_json(report_path, result.as_dict())
    if junit_path:
        report.write_junit(junit_path, junit(result))
    if getattr(result, "interrupted", None):
        from .fleet import interrupt

        sys.exit(interrupt.exit_code())
    sys.exit(0 if result.ok else 1)


def show_run(diff: bool):
    """The table of an apply or uninstall, then what changed (diffs with ``--diff``/``--dry``)."""
    from .fleet import report

    def show(result):
        report.print_table(report.apply_table(result))
        report.print_changes(result, diffs=diff or result.dry)

    return show


@cli.command()
@INVENTORY
@LIMIT
@click.option(
    "--dry", is_flag=True, help="Show what would change, with file diffs; change nothing."
)
@click.option("--diff", is_flag=True, help="Show file diffs of what changed.")
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
@click.option(
    "--rollback-on-failure",
    "rollback",
    is_flag=True,
    help="With --batch: give a failed batch's hosts their previous engine back (apt "
    "downgrade, data kept) and verify them.",
)
@SHARD
@LOCK_WAIT
@DATA
@PROFILE
@REPORT
@JUNIT
@JSON
def apply(
    inventory,
    limit,
    dry,
    diff,
    parallel,
    fail_percent,
    batch,
    resume_file,
    rollback,
    shard_spec,
    lock_wait,
    data,
    profile,
    report_file,
    junit_file,
    as_json,
):
    """Install and configure Docker Engine on every selected host."""
    from .fleet import interrupt, report
    from .fleet.cli import apply_in_batches, locking

    chosen = profiles.profile(profile)
    fleet = load_fleet(inventory, limit, data, chosen, shard_spec)
    with interrupt.graceful():
        if rollback and not (batch or resume_file):
            raise UsageError("--rollback-on-failure rolls back a batch: add --batch N.")
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
                chosen,
                rollback=rollback,
            )
        result = run_with_progress(
            fleet,
            chosen.deploy,
            "apply",
            dry=dry,
            parallel=parallel,
            fail_percent=fail_percent,
            locking=None if dry else locking(lock_wait),
        )
        finish(result, as_json, show_run(diff), report_file, junit_file, report.apply_junit)


@cli.command()
@INVENTORY
@LIMIT
@PARALLEL
@SHARD
@DATA
@PROFILE
@REPORT
@JUNIT
@JSON
def verify(inventory, limit, parallel, shard_spec, data, profile, report_file, junit_file, as_json):
    """Run the verification suite (testinfra) on every selected host."""
    from .fleet import report
    from .verify.runner import verify as run_verify

    chosen = profiles.profile(profile)
    fleet = load_fleet(inventory, limit, data, chosen, shard_spec)
    result = run_verify(fleet, parallel, chosen.suites)

    def show(result):
        report.print_table(report.verify_table(result))

    finish(result, as_json, show, report_file, junit_file, report.verify_junit)


@cli.command()
@INVENTORY
@LIMIT
@PARALLEL
@DATA
@REPORT
@JUNIT
@click.option(
    "--prometheus",
    "prometheus_file",
    type=click.Path(dir_okay=False),
    help="Write the results in Prometheus' text format (node_exporter's textfile collector).",
)
@JSON
def audit(inventory, limit, parallel, data, report_file, junit_file, prometheus_file, as_json):
    """Audit every selected host against the CIS Docker Benchmark (sections 1, 2, 3, 5)."""
    from . import redact
    from .audit import report as audit_report
    from .audit.runner import audit as run_audit
    from .fleet import report

    fleet = load_fleet(inventory, limit, data)
    result = run_audit(fleet, parallel)
    if prometheus_file:
        audit_report.write_prometheus(prometheus_file, result)

    def show(result):
        report.print_table(audit_report.table(result))
        for line in audit_report.summary(result):
            click.echo(redact.text(line))

    finish(result, as_json, show, report_file, junit_file, audit_report.junit)


@cli.command()
@INVENTORY
@LIMIT
@SHARD
@DATA
@REPORT
@JSON
def status(inventory, limit, shard_spec, data, report_file, as_json):
    """Show OS, Docker and compose versions, services and drift; changes nothing."""
    from .docker.deploy import install_docker
    from .fleet import report
    from .fleet.runner import run_deploy
    from .fleet.status import inspect_host

    fleet = load_fleet(inventory, limit, data, shard_spec=shard_spec)
    settings = fleet.settings()
    result = run_deploy(
        fleet, install_docker, "status", dry=True, inspect=lambda name: inspect_host(settings[name])
    )

    def show(result):
        report.print_table(report.status_table(result))

    finish(result, as_json, show, report_file)


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
    from .docker.deploy import uninstall_docker
    from .fleet import report

    data = (*data, "docker_purge_data=true") if purge_data else data
    fleet = load_fleet(inventory, limit, data)
    if not yes:
        names = ", ".join(h.name for h in fleet.hosts)
        what = " and ALL container data" if purge_data else ""
        click.confirm(f"Remove Docker{what} from {names}?", abort=True)
    from .fleet import interrupt
    from .fleet.cli import locking

    with interrupt.graceful():
        result = run_with_progress(fleet, uninstall_docker, "uninstall", locking=locking(300))
        finish(result, False, show_run(False), report_file, junit_file, report.apply_junit)


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

    startup.started()

    sys.exit(run_demo(keep))


cli.add_command(lab_group)
for command in FLEET_COMMANDS:
    cli.add_command(command)


def main() -> None:
    """Entry point: errors the user can fix become one line and exit code 2."""
    startup.starting()
    try:
        cli(standalone_mode=True)
    except (LabError, UsageError, SettingsError) as error:
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
    finally:
        startup.exiting()
