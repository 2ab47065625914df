"""The options of ``provision``'s commands, each declared once."""

from __future__ import annotations

import click

from provision import profiles

# pyinfra, fabric and rich load only inside the commands that use them (fast `--help`)

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
DATA = click.option(
    "--data",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting for every host, e.g. docker_version=26.1.5.",
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
REPORT = click.option(
    "--report", "report_file", type=click.Path(dir_okay=False), help="Write a JSON report."
)
JUNIT = click.option(
    "--junit", "junit_file", type=click.Path(dir_okay=False), help="Write JUnit XML."
)
JSON = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as one JSON document on stdout, and nothing else there.",
)


def _verbosity(ctx, param, value: int) -> int:
    from provision.core import logs

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
