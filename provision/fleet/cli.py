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
    metavar="HOSTS_OR_GROUPS",
    help="Only these hosts or groups (repeatable or comma-separated, globs allowed).",
)
EXCLUDE = click.option(
    "--exclude",
    multiple=True,
    metavar="HOSTS_OR_GROUPS",
    help="Leave out these hosts or groups (as --limit).",
)
REPORT = click.option(
    "--report", "report_file", type=click.Path(dir_okay=False), help="Write a JSON report."
)
JSON = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as one JSON document on stdout, and nothing else there.",
)


def _verbosity(ctx, param, value: int) -> int:
    from .. import logs

    if value:
        logs.configure(value)
    return value


VERBOSE = click.option(
    "-v",
    "--verbose",
    count=True,
    expose_value=False,
    callback=_verbosity,
    help="Show the SSH layer's warnings (-v) or its debug output (-vv) on stderr.",
)


def finish(result, as_json: bool, show, report_path=None, junit_path=None, junit=None, also=None):
    """Print ``show(result)`` (with ``--json`` only the JSON document), write reports (and
    ``also(result)``, another file), exit. A signal meanwhile waits until all is written.

    Every command with a result ends here, so ``--json`` means the same everywhere.
    """
    from . import report

    with interrupt.held():  # a signal now waits until everything is written
        if as_json:
            click.echo(report.json_text(result.as_dict()))
        else:
            show(result)
        if report_path:
            report.write_json(report_path, result.as_dict())
        if junit_path:
            report.write_junit(junit_path, junit(result))
        if also:
            also(result)
    if getattr(result, "interrupted", None):
        sys.exit(interrupt.exit_code())
    sys.exit(0 if result.ok else 1)


def table(make):
    """A ``show`` for ``finish``: print the table ``make(result)``."""
    from . import report

    return lambda result: report.print_table(make(result))


def locking(wait: int):
    """This run's host locks: held for the run, ``wait`` seconds for another run's to go."""
    from .lock import owner
    from .runner import Locking

    return Locking(owner(), wait)


def _load(inventory: str, limit, exclude, shard_spec: str | None, as_json: bool):
    from .. import startup
    from . import inventory as fleet_inventory
    from . import shard

    fleet = fleet_inventory.load(inventory, limit, exclude=exclude)
    startup.started()
    return shard.slice_or_exit(fleet, shard_spec, as_json)


def apply_in_batches(
    fleet,
    batch,
    resume,
    fail_percent,
    lock_wait,
    runner,
    report_file,
    junit_file=None,
    profile=None,
    as_json=False,
    rollback=False,
):
    """``apply --batch``: roll out each host's profile (``profiles.Chosen``; default: Docker),
    print the table (or the JSON document), write the report after every batch. ``resume``:
    ``batches.resumed`` of the report of the rollout to carry on."""
    import functools

    from provision.profiles import Chosen
    from provision.verify.runner import verify

    from . import report
    from .batches import roll_out
    from .rollout import batch_size
    from .tables import rollout_junit, rollout_table

    profile = profile or Chosen(dict.fromkeys((host.name for host in fleet.hosts), "docker"))
    done, resumed_batch = resume or ([], None)
    batch = batch or resumed_batch  # the batch size of the rollout being resumed
    size = batch_size(batch, len(fleet.hosts))

    def write(rollout) -> None:
        rollout.batch = batch
        if report_file:
            with interrupt.held():  # written whole; the rollout stops at its next step
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
    finish(rollout, as_json, table(rollout_table), None, junit_file, rollout_junit)


@click.command("exec")
@INVENTORY
@LIMIT
@EXCLUDE
@SHARD
@click.option("--sudo", is_flag=True, help="Run the command as root (sudo -n sh -c COMMAND).")
@click.option("--timeout", type=click.IntRange(1), metavar="SECONDS", help="Stop it after this.")
@click.option("--parallel", type=click.IntRange(1), help="Hosts at once (default all).")
@REPORT
@JSON
@VERBOSE
@click.argument("command", nargs=-1, required=True)
def exec_command(
    inventory, limit, exclude, shard_spec, sudo, timeout, parallel, report_file, as_json, command
):
    """Run COMMAND (after --) on every selected host at once; a table of the results.

    COMMAND is a shell command line, joined like ssh joins its arguments:
    provision exec -i INVENTORY -- 'df -h / | tail -1'
    """
    from . import outputs
    from .exec import run_command
    from .tables import exec_table

    outputs.check_all(report_file=report_file)
    fleet = _load(inventory, limit, exclude, shard_spec, as_json)
    with interrupt.graceful():
        result = run_command(fleet, " ".join(command), sudo, timeout, parallel)
        finish(result, as_json, table(exec_table), report_file)


@click.command("bootstrap")
@INVENTORY
@LIMIT
@EXCLUDE
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
@REPORT
@JSON
@VERBOSE
def bootstrap_command(
    inventory,
    limit,
    exclude,
    shard_spec,
    initial_user,
    password_env,
    key_logins_only,
    report_file,
    as_json,
):
    """First contact: create the inventory's deploy user (ssh_user, ssh_key, sudo).

    Host keys seen for the first time have their fingerprints printed and are recorded in the
    inventory's known_hosts file (trust on first use) once a login has succeeded.
    """
    from . import outputs
    from .bootstrap import bootstrap as run_bootstrap
    from .tables import bootstrap_table

    outputs.check_all(report_file=report_file)
    fleet = _load(inventory, limit, exclude, shard_spec, as_json)
    with interrupt.graceful():
        result = run_bootstrap(fleet, initial_user, password_env, key_logins_only)
        finish(result, as_json, table(bootstrap_table), report_file)


FLEET_COMMANDS = (exec_command, bootstrap_command)
