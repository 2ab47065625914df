"""The ``provision`` command: parse, call the library, print, exit code.

Exit codes: 0 every host fine; 1 a host failed (apply) or a check failed (verify); 2 bad usage,
inventory or settings, reported before any host is touched.
"""

from __future__ import annotations

import sys

import click

from . import logs, profiles, startup
from .docker.errors import SettingsError
from .fleet.cli import (
    EXCLUDE,
    FLEET_COMMANDS,
    INVENTORY,
    JSON,
    LIMIT,
    LOCK_WAIT,
    REPORT,
    SHARD,
    VERBOSE,
    finish,
    table,
)
from .fleet.errors import UsageError
from .lab.cli import lab_group
from .lab.errors import LabError

# pyinfra, testinfra and rich load only inside the commands that use them: `--help`, `lab`
# commands and usage errors stay fast.

DATA = click.option(
    "--data",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting for every host, e.g. docker_version=26.1.5.",
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
    help="docker: Docker Engine; ci-runner: plus a runner user, pruning and buildx. Default: "
    f"each host's {profiles.SETTING} setting, else docker.",
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
    path: str,
    limit,
    data,
    profile: str | None | bool = False,
    shard_spec: str | None = None,
    exclude=(),
    as_json: bool = False,
    **outputs: str | None,
):
    """The selected hosts and each one's profile (``profiles.Chosen``), once everything typed or
    pointed at is checked: the inventory, every host's settings and the files named in
    ``outputs`` (``report_file=...``). ``profile``: ``--profile`` (``None``: each host's choice
    in the inventory; ``False``: a command without profiles)."""
    from .fleet import inventory, shard
    from .fleet.outputs import check_all

    check_all(**outputs)
    fleet = inventory.load(path, limit, inventory.parse_data(data), exclude)
    startup.started()
    chosen = None if profile is False else profiles.choose(fleet.hosts, profile)
    # every settings problem of every host, before anything is touched
    fleet.settings(chosen.check if chosen else None)
    return shard.slice_or_exit(fleet, shard_spec, as_json), chosen


def run_with_progress(fleet, deploy, command: str, **kwargs):
    """Run a deploy, showing each host's current operation while it runs (on stderr)."""
    from .fleet.runner import run_deploy
    from .progress import Board

    with Board(f"provision {command}") as board:
        return run_deploy(fleet, deploy, command, progress=board.set, **kwargs)


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
@EXCLUDE
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
    help="With --batch: give a failed batch's hosts the previous versions of every package "
    "the apply moved back (apt downgrade, data kept) and verify them.",
)
@SHARD
@LOCK_WAIT
@DATA
@PROFILE
@REPORT
@JUNIT
@JSON
@VERBOSE
def apply(
    inventory,
    limit,
    exclude,
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
    from .fleet.batches import resumed
    from .fleet.cli import apply_in_batches, locking
    from .fleet.rollout import batch_size

    if dry and (batch or resume_file):
        raise UsageError("--dry cannot be combined with --batch or --resume; drop one.")
    if rollback and not (batch or resume_file):
        raise UsageError("--rollback-on-failure rolls back a batch: add --batch N.")
    if batch:
        batch_size(batch, 1)  # a bad --batch is found before any host
    resume = resumed(resume_file) if resume_file else None
    fleet, chosen = load_fleet(
        inventory,
        limit,
        data,
        profile,
        shard_spec,
        exclude,
        as_json,
        report_file=report_file,
        junit_file=junit_file,
    )
    with interrupt.graceful():
        if batch or resume:
            apply_in_batches(
                fleet,
                batch,
                resume,
                fail_percent,
                lock_wait,
                run_with_progress,
                report_file,
                junit_file,
                chosen,
                as_json,
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
@EXCLUDE
@PARALLEL
@SHARD
@DATA
@PROFILE
@REPORT
@JUNIT
@JSON
@VERBOSE
def verify(
    inventory,
    limit,
    exclude,
    parallel,
    shard_spec,
    data,
    profile,
    report_file,
    junit_file,
    as_json,
):
    """Run the verification suite (testinfra) on every selected host."""
    from .fleet import interrupt, report
    from .verify.runner import verify as run_verify

    fleet, chosen = load_fleet(
        inventory,
        limit,
        data,
        profile,
        shard_spec,
        exclude,
        as_json,
        report_file=report_file,
        junit_file=junit_file,
    )
    with interrupt.graceful():
        result = run_verify(fleet, parallel, chosen.suites)
        show = table(report.verify_table)
        finish(result, as_json, show, report_file, junit_file, report.verify_junit)


@cli.command()
@INVENTORY
@LIMIT
@EXCLUDE
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
@VERBOSE
def audit(
    inventory, limit, exclude, parallel, data, report_file, junit_file, prometheus_file, as_json
):
    """Audit every selected host against the CIS Docker Benchmark (sections 1, 2, 3, 5)."""
    from . import redact
    from .audit import report as audit_report
    from .audit.runner import audit as run_audit
    from .fleet import interrupt, report

    fleet, _ = load_fleet(
        inventory,
        limit,
        data,
        exclude=exclude,
        as_json=as_json,
        report_file=report_file,
        junit_file=junit_file,
        prometheus_file=prometheus_file,
    )

    def show(result):
        report.print_table(audit_report.table(result))
        for line in audit_report.summary(result):
            click.echo(redact.text(line))

    def prometheus(result):
        if prometheus_file:
            audit_report.write_prometheus(prometheus_file, result)

    with interrupt.graceful():
        result = run_audit(fleet, parallel)
        finish(result, as_json, show, report_file, junit_file, audit_report.junit, prometheus)


@cli.command()
@INVENTORY
@LIMIT
@EXCLUDE
@SHARD
@DATA
@PROFILE
@REPORT
@JSON
@VERBOSE
def status(inventory, limit, exclude, shard_spec, data, profile, report_file, as_json):
    """Show OS, Docker and compose versions, services and drift; changes nothing."""
    from .fleet import interrupt, report
    from .fleet.runner import run_deploy
    from .fleet.status import inspect_host

    fleet, chosen = load_fleet(
        inventory, limit, data, profile, shard_spec, exclude, as_json, report_file=report_file
    )
    settings = fleet.settings()
    with interrupt.graceful():
        result = run_deploy(
            fleet,
            chosen.deploy,
            "status",
            dry=True,
            inspect=lambda name: inspect_host(settings[name]),
        )
        finish(result, as_json, table(report.status_table), report_file)


@cli.command()
@INVENTORY
@LIMIT
@EXCLUDE
@click.option("--purge-data", is_flag=True, help="Also delete /var/lib/docker and containerd.")
@click.option("--dry", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@DATA
@REPORT
@JUNIT
@JSON
@VERBOSE
def uninstall(
    inventory, limit, exclude, purge_data, dry, yes, data, report_file, junit_file, as_json
):
    """Remove Docker Engine, its repository and key from every selected host."""
    from .docker.deploy import uninstall_docker
    from .fleet import interrupt, report
    from .fleet.cli import locking

    data = (*data, "docker_purge_data=true") if purge_data else data
    fleet, _ = load_fleet(
        inventory,
        limit,
        data,
        exclude=exclude,
        as_json=as_json,
        report_file=report_file,
        junit_file=junit_file,
    )
    if not (yes or dry):
        confirm(fleet, purge_data)
    with interrupt.graceful():
        result = run_with_progress(
            fleet, uninstall_docker, "uninstall", dry=dry, locking=None if dry else locking(300)
        )
        finish(result, as_json, show_run(False), report_file, junit_file, report.apply_junit)


def interactive() -> bool:
    """Someone at a terminal can answer a question."""
    return sys.stdin.isatty()


def confirm(fleet, purge_data: bool) -> None:
    """Ask on the terminal before removing Docker; without one, ask for ``--yes``."""
    from .fleet.hostnames import ranges

    what = " and ALL container data" if purge_data else ""
    where = ranges([host.name for host in fleet.hosts])
    if not interactive():
        raise UsageError(
            f"uninstall removes Docker{what} from {where}; no terminal to ask on, so pass "
            "--yes (or --dry to see what it would remove)."
        )
    if not click.confirm(f"Remove Docker{what} from {where}?"):
        click.echo("Nothing removed.", err=True)
        sys.exit(1)


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
    """Entry point: errors the user can fix become one line and exit code 2; a signal before
    the run began is one line and 130/143."""
    from .fleet import interrupt

    startup.starting()
    logs.configure(0)
    try:
        with interrupt.catching():
            code = cli(standalone_mode=False)
    except (LabError, UsageError, SettingsError) as error:
        fail(str(error))
    except click.UsageError as error:
        where = error.ctx.command_path if error.ctx else "provision"
        fail(f"{where}: {error.format_message()} (see `{where} --help`).")
    except click.ClickException as error:
        fail(error.format_message(), error.exit_code)
    except click.Abort:  # Ctrl-C or SIGTERM outside a run's own handling
        fail(f"interrupted by {interrupt.received()}.", interrupt.exit_code())
    finally:
        startup.exiting()
    sys.exit(code if isinstance(code, int) else 0)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: MESSAGE`` as one line on stderr, secrets masked (red on a terminal unless
    NO_COLOR), and exit with ``code``."""
    import os

    from .redact import text

    line = "error: " + " ".join(text(message).split())
    colour = None if os.environ.get("NO_COLOR") else "red"
    click.secho(line, fg=colour, err=True)
    sys.exit(code)
