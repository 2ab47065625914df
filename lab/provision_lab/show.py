"""The lab's hosts as a table."""

from __future__ import annotations

import click


def print_status(rows) -> None:
    """Each lab host: its suite, address and state."""
    if not rows:
        click.echo("no lab hosts; start them with `provision lab up`.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("host", "suite", "address", "state")
    for row in rows:
        colour = "green" if row.state == "running" else "red"
        table.add_row(row.name, row.suite, row.address, f"[{colour}]{row.state}[/]")
    Console().print(table)
