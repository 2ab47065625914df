"""What every command of ``provision`` does the same way: load the fleet, and finish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import click


@dataclass(frozen=True)
class Loaded:
    """The selected hosts, the profile each one runs and their settings, checked once."""

    fleet: object  # orchestrate.inventory.Fleet
    profile: object | None  # profiles.Chosen
    settings: dict | None  # host name -> its settings


def load_fleet(
    path: str,
    limit,
    exclude=(),
    shard_spec: str | None = None,
    as_json: bool = False,
    data=(),
    profile: str | None | bool = False,
    settings: bool = True,
    **outputs: str | None,
) -> Loaded:
    """The selected hosts, once everything typed or pointed at is checked: the files named in
    ``outputs`` (``report_file=...``), the inventory and, with ``settings``, every host's
    settings (all problems of all hosts at once, before any host is contacted).

    ``profile``: ``--profile`` (``None``: each host's choice in the inventory; ``False``: a
    command without profiles, which checks Docker's settings).
    """
    from provision import profiles
    from provision.core import startup
    from provision.orchestrate import inventory, shard
    from provision.report.outputs import check_all

    check_all(**outputs)
    fleet = inventory.load(path, limit, inventory.parse_data(data), exclude)
    startup.started()
    chosen, checked = None, None
    if settings:
        if profile is False:
            chosen = profiles.Chosen.docker(fleet.hosts)
        else:
            chosen = profiles.choose(fleet.hosts, profile)
        checked = fleet.settings(chosen.checks)
    return Loaded(shard.slice_or_exit(fleet, shard_spec, as_json), chosen, checked)


def finish(
    result, as_json: bool, show, report_path=None, junit_path=None, junit=None, also=None
) -> NoReturn:
    """Print ``show(result)`` (with ``--json`` only the JSON document), write the reports (and
    ``also(result)``, another file), and end the command with its exit code: 0 all fine, 1 a
    host or check failed, 130/143 when a signal stopped the run. A signal meanwhile waits until
    all is written.

    Every command with a result ends here, so ``--json`` and exit codes mean the same everywhere.
    """
    from provision.core import interrupt, startup
    from provision.report import documents

    startup.started()  # the run is over: what it made lives until the exit, uncollected
    with interrupt.held():  # a signal now waits until everything is written
        if as_json:
            click.echo(documents.json_text(result.as_dict()))
        else:
            show(result)
        if report_path:
            documents.write_json(report_path, result.as_dict())
        if junit_path:
            documents.write_junit(junit_path, junit(result))
        if also:
            also(result)
    if getattr(result, "interrupted", None):
        click.get_current_context().exit(interrupt.exit_code())
    click.get_current_context().exit(0 if result.ok else 1)


def table(make):
    """A ``show`` for ``finish``: print the table ``make(result)``."""
    from provision.report import tables as report

    return lambda result: report.print_table(make(result))
