"""The fleet commands of ``provision``: ``exec``, ``bootstrap``, and rolling ``apply``."""

from __future__ import annotations

import sys

import click

from . import interrupt

# fabric, pyinfra and rich load only inside the commands that use them (fast `--help`)

SHARD = click.option(
    "--shard",
    "shard_spec",
    metavar="K/N",
    help="Only the K-th of N stable slices of the selected hosts (one per CI job).",
)
LOCK_WAIT = click.option(
    "--lock-wait",
    type=click.IntRange(0),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for another provision run to release a host.",
)
_INVENTORY = click.option("-i", "--inventory", required=True, metavar="FILE", help="Inventory.")
_LIMIT = click.option("--limit", multiple=True, metavar="HOST_OR_GROUP", help="Only these hosts.")
_REPORT = click.option(
    "--report", "report_file", type=click.Path(dir_okay=False), help="Write a JSON report."
)


def locking(wait: int):
    """This run's host locks: held for the run, ``wait`` seconds for another run's to go."""
    from .lock import owner
    from .runner import Locking

    return Locking(owner(), wait)


def _load(inventory: str, limit, shard_spec: str | None):
    from .. import startup
    from . import inventory as fleet_inventory
    from . import shard

    fleet = fleet_inventory.load(inventory, limit)
    startup.started()
    return shard.slice_or_exit(fleet, shard_spec)


def apply_in_batches(
    fleet,
    batch,
    resume_file,
    fail_percent,
    lock_wait,
    runner,
    report_file,
    junit_file=None,
    profile=None,
    rollback=False,
):
    """``apply --batch``: roll out ``profile`` (default: Docker), print the table, write the
    report after every batch."""
    import functools

    from provision.profiles import profile as profile_named
    from provision.verify.runner import verify

    from . import report
    from .batches import done_in, roll_out
    from .rollout import batch_size
    from .tables import rollout_junit, rollout_table

    profile = profile or profile_named("docker")
    done = done_in(resume_file) if resume_file else []
    if not batch:  # the batch size of the rollout being resumed
        batch = report_batch(resume_file)
    size = batch_size(batch, len(fleet.hosts))

    def write(rollout) -> None:
        rollout.batch = batch
        if report_file:
            report.write_json(report_file, rollout.as_dict())

    rollout = roll_out(
        fleet,
        profile.deploy,
        functools.partial(verify, suites=profile.suites),
        size,
        fail_percent or 0,
        done,
        locking(lock_wait),
        on_batch=write,
        apply=runner,
        rollback=rollback,
    )
    write(rollout)
    report.print_table(rollout_table(rollout))
    if junit_file:
        report.write_junit(junit_file, rollout_junit(rollout))
    sys.exit(interrupt.exit_code() if rollout.interrupted else 0 if rollout.ok else 1)


def report_batch(path: str) -> str:
    import json

    return str(json.loads(open(path).read())["rollout"]["batch"])


@click.command("exec", context_settings={"ignore_unknown_options": True})
@_INVENTORY
@_LIMIT
@SHARD
@click.option("--sudo", is_flag=True, help="Run the command as root (sudo -n sh -c COMMAND).")
@click.option("--timeout", type=click.IntRange(1), metavar="SECONDS", help="Stop it after this.")
@click.option("--parallel", type=click.IntRange(1), help="Hosts at once (default all).")
@_REPORT
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(inventory, limit, shard_spec, sudo, timeout, parallel, report_file, command):
    """Run COMMAND (after --) on every selected host at once; a table of the results.

    COMMAND is a shell command line, joined like ssh joins its arguments:
    provision exec -i INVENTORY -- 'df -h / | tail -1'
    """
    from . import report
    from .exec import run_command
    from .tables import exec_table

    fleet = _load(inventory, limit, shard_spec)
    with interrupt.graceful():
        result = run_command(fleet, " ".join(command), sudo, timeout, parallel)
        report.print_table(exec_table(result))
        if report_file:
            report.write_json(report_file, result.as_dict())
    sys.exit(interrupt.exit_code() if result.interrupted else 0 if result.ok else 1)


@click.command("bootstrap")
@_INVENTORY
@_LIMIT
@SHARD
@click.option(
    "--initial-user",
    required=True,
    metavar="USER",
    help="The user a fresh host lets in: root, ubuntu, admin, debian...",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="Log in (and sudo) with the password in this environment variable, not a key.",
)
@click.option(
    "--key-logins-only",
    is_flag=True,
    help="Then turn SSH password logins off (checked with sshd -t before sshd reloads).",
)
@_REPORT
def bootstrap_command(
    inventory, limit, shard_spec, initial_user, password_env, key_logins_only, report_file
):
    """First contact: create the inventory's deploy user (ssh_user, ssh_key, sudo).

    Host keys seen for the first time have their fingerprints printed and are recorded in the
    inventory's known_hosts file (trust on first use) once a login has succeeded.
    """
    from . import report
    from .bootstrap import bootstrap as run_bootstrap
    from .tables import bootstrap_table

    fleet = _load(inventory, limit, shard_spec)
    result = run_bootstrap(fleet, initial_user, password_env, key_logins_only)
    report.print_table(bootstrap_table(result))
    if report_file:
        report.write_json(report_file, result.as_dict())
    sys.exit(0 if result.ok else 1)


FLEET_COMMANDS = (exec_command, bootstrap_command)
