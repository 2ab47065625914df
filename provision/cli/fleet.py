"""``provision exec`` and ``bootstrap``: commands over SSH on every selected host."""

from __future__ import annotations

import click

from .common import finish, load_fleet, table
from .options import EXCLUDE, INVENTORY, JSON, LIMIT, PARALLEL, REPORT, SHARD, VERBOSE


@click.command("exec")
@INVENTORY
@LIMIT
@EXCLUDE
@SHARD
@click.option("--sudo", is_flag=True, help="Run the command as root (sudo -n sh -c COMMAND).")
@click.option("--timeout", type=click.IntRange(1), metavar="SECONDS", help="Stop it after this.")
@PARALLEL
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
    from provision.core import interrupt
    from provision.orchestrate.exec import run_command
    from provision.report.tables import exec_table

    loaded = load_fleet(
        inventory, limit, exclude, shard_spec, as_json, settings=False, report_file=report_file
    )
    with interrupt.graceful():
        result = run_command(loaded.fleet, " ".join(command), sudo, timeout, parallel)
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
    from provision.core import interrupt
    from provision.orchestrate.bootstrap import bootstrap as run_bootstrap
    from provision.report.tables import bootstrap_table

    loaded = load_fleet(
        inventory, limit, exclude, shard_spec, as_json, settings=False, report_file=report_file
    )
    with interrupt.graceful():
        result = run_bootstrap(loaded.fleet, initial_user, password_env, key_logins_only)
        finish(result, as_json, table(bootstrap_table), report_file)


COMMANDS = (exec_command, bootstrap_command)
