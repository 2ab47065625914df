"""The ``provision`` command: a thin layer over the library."""

from __future__ import annotations

import sys

import click

from .lab.cli import lab_group
from .lab.errors import LabError


@click.group()
@click.version_option(package_name="provision")
def cli() -> None:
    """Turn Ubuntu/Debian servers into verified Docker hosts."""


cli.add_command(lab_group)


def main() -> None:
    """Entry point: user errors become one line and exit code 2."""
    try:
        cli(standalone_mode=True)
    except LabError as error:
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
