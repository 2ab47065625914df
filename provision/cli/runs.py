"""``provision apply``, ``uninstall`` and ``status``: runs of a deploy over the fleet."""

from __future__ import annotations

import sys

import click

from provision.core.errors import UsageError

from .common import finish, load_fleet, table
from .options import (
    DATA,
    EXCLUDE,
    INVENTORY,
    JSON,
    JUNIT,
    LIMIT,
    LOCK_WAIT,
    PARALLEL,
    PROFILE,
    REPORT,
    SHARD,
    VERBOSE,
)


def run_with_progress(fleet, deploy, command: str, **kwargs):
    """Run a deploy, showing each host's current operation while it runs (on stderr)."""
    from provision.orchestrate.progress import Board
    from provision.orchestrate.run import run_deploy

    with Board(f"provision {command}") as board:
        return run_deploy(fleet, deploy, command, progress=board.set, **kwargs)


def show_run(diff: bool):
    """The table of an apply or uninstall, then what changed (diffs with ``--diff``/``--dry``)."""
    from provision.report import tables as report

    def show(result):
        report.print_table(report.apply_table(result))
        report.print_changes(result, diffs=diff or result.dry)

    return show


def locking(wait: int):
    """This run's host locks: held for the run, ``wait`` seconds for another run's to go."""
    from provision.orchestrate.lock import owner
    from provision.orchestrate.run import Locking

    return Locking(owner(), wait)


@click.command()
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
    from provision.core import interrupt
    from provision.orchestrate.batches import batch_size
    from provision.orchestrate.rollout import resumed
    from provision.report import documents

    if dry and (batch or resume_file):
        raise UsageError("--dry cannot be combined with --batch or --resume; drop one.")
    if rollback and not (batch or resume_file):
        raise UsageError("--rollback-on-failure rolls back a batch: add --batch N.")
    if batch:
        batch_size(batch, 1)  # a bad --batch is found before any host
    resume = resumed(resume_file) if resume_file else None
    loaded = load_fleet(
        inventory,
        limit,
        exclude,
        shard_spec,
        as_json,
        data,
        profile,
        report_file=report_file,
        junit_file=junit_file,
    )
    with interrupt.graceful():
        if batch or resume:
            rollout = roll_out(
                loaded, batch, resume, fail_percent, lock_wait, report_file, rollback
            )
            finish_rollout(rollout, as_json, junit_file)
        result = run_with_progress(
            loaded.fleet,
            loaded.profile.deploy,
            "apply",
            dry=dry,
            parallel=parallel,
            fail_percent=fail_percent,
            locking=None if dry else locking(lock_wait),
        )
        finish(result, as_json, show_run(diff), report_file, junit_file, documents.apply_junit)


def roll_out(loaded, batch, resume, fail_percent, lock_wait, report_file, rollback):
    """``apply --batch``: roll out each host's profile batch by batch, each verified before
    the next, the report written after every batch. ``resume``: ``rollout.resumed`` of the
    report of the rollout to carry on."""
    import functools

    from provision.core import interrupt
    from provision.docker.pins import previous_versions
    from provision.orchestrate.batches import batch_size
    from provision.orchestrate.rollout import roll_out as run_rollout
    from provision.report import documents
    from provision.verify.run import verify

    done, resumed_batch = resume or ([], None)
    batch = batch or resumed_batch  # the batch size of the rollout being resumed
    size = batch_size(batch, len(loaded.fleet.hosts))

    def write(rollout) -> None:
        rollout.batch = batch
        if report_file:
            with interrupt.held():  # written whole; the rollout stops at its next step
                documents.write_json(report_file, rollout.as_dict())

    rollout = run_rollout(
        loaded.fleet,
        loaded.profile.deploy,
        functools.partial(verify, suites=loaded.profile.suites),
        size,
        fail_percent or 0,
        done,
        locking(lock_wait),
        on_batch=write,
        apply=run_with_progress,
        rollback=previous_versions if rollback else None,
    )
    write(rollout)
    return rollout


def finish_rollout(rollout, as_json: bool, junit_file) -> None:
    """The end of ``apply --batch``: its table (or JSON document) and JUnit XML."""
    from provision.report.documents import rollout_junit
    from provision.report.tables import rollout_table

    finish(rollout, as_json, table(rollout_table), None, junit_file, rollout_junit)


@click.command()
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
    from provision.core import interrupt
    from provision.docker.status import inspect_host
    from provision.orchestrate.run import run_deploy
    from provision.report import tables as report

    loaded = load_fleet(
        inventory, limit, exclude, shard_spec, as_json, data, profile, report_file=report_file
    )
    settings = loaded.settings
    with interrupt.graceful():
        result = run_deploy(
            loaded.fleet,
            loaded.profile.deploy,
            "status",
            dry=True,
            inspect=lambda name: inspect_host(settings[name]),
        )
        finish(result, as_json, table(report.status_table), report_file)


@click.command()
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
    from provision.core import interrupt
    from provision.docker.deploy import uninstall_docker
    from provision.report import documents

    data = (*data, "docker_purge_data=true") if purge_data else data
    loaded = load_fleet(
        inventory,
        limit,
        exclude,
        as_json=as_json,
        data=data,
        report_file=report_file,
        junit_file=junit_file,
    )
    if not (yes or dry):
        confirm(loaded.fleet, purge_data)
    with interrupt.graceful():
        result = run_with_progress(
            loaded.fleet,
            uninstall_docker,
            "uninstall",
            dry=dry,
            locking=None if dry else locking(300),
        )
        finish(result, as_json, show_run(False), report_file, junit_file, documents.apply_junit)


def interactive() -> bool:
    """Someone at a terminal can answer a question."""
    return sys.stdin.isatty()


def confirm(fleet, purge_data: bool) -> None:
    """Ask on the terminal before removing Docker; without one, ask for ``--yes``."""
    from provision.orchestrate.hostnames import ranges

    what = " and ALL container data" if purge_data else ""
    where = ranges([host.name for host in fleet.hosts])
    if not interactive():
        raise UsageError(
            f"uninstall removes Docker{what} from {where}; no terminal to ask on, so pass "
            "--yes (or --dry to see what it would remove)."
        )
    if not click.confirm(f"Remove Docker{what} from {where}?"):
        click.echo("Nothing removed.", err=True)
        click.get_current_context().exit(1)


COMMANDS = (apply, status, uninstall)
