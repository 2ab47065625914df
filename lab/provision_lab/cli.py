"""``provision lab`` (throwaway Debian hosts for rehearsals and tests) and ``provision demo``."""

from __future__ import annotations

import os
import time

import click

from provision.orchestrate.progress import Board

from .config import EXTRA_HOSTS
from .show import print_status

# The lab's machinery loads inside each command: `provision --help` stays fast.


@click.group("lab")
def lab_group() -> None:
    """Local throwaway Debian hosts (systemd-nspawn) and a stand-in Docker repository."""
    from provision.core import startup

    startup.started()


@lab_group.command("up")
@click.option("--hosts", "count", default=2, show_default=True, help="How many hosts (lab1..labN).")
@click.option(
    "--suite",
    "suites",
    multiple=True,
    type=click.Choice(["bookworm", "trixie"]),
    help="Debian suite; repeat to alternate (default: bookworm and trixie).",
)
@click.option(
    "--extra",
    "extras",
    multiple=True,
    type=click.Choice(list(EXTRA_HOSTS)),
    help="Also start this extra host; repeat for more: "
    + "; ".join(f"{extra.name}: {extra.about}" for extra in EXTRA_HOSTS.values())
    + ".",
)
def up(count: int, suites: tuple[str, ...], extras: tuple[str, ...]) -> None:
    """Start the lab hosts; hosts that already run are left running."""
    from .lab import Lab

    started = time.monotonic()
    lab = Lab()
    with Board("lab up") as board:
        rows = lab.up(count, list(suites) or None, board, extras)
    print_status(rows)
    click.echo(
        f"lab up in {time.monotonic() - started:.1f} s; log in with "
        f"`provision lab ssh {rows[0].name}` or `ssh -F {_shown(lab.config.ssh_config)} "
        f"{rows[0].name}`."
    )


@lab_group.command("down")
def down() -> None:
    """Stop every lab host and remove the lab's mounts, bridge, NAT rules and processes."""
    from .lab import Lab

    Lab().down()
    click.echo("lab is down.")


@lab_group.command("status")
def status() -> None:
    """Show each lab host: suite, address, state."""
    from .lab import Lab

    print_status(Lab().status())


@lab_group.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(host: str, command: tuple[str, ...]) -> None:
    """Log in to a lab host (or run COMMAND there)."""
    from .lab import Lab
    from .ssh import ssh_command

    lab = Lab()
    lab.machine(host)
    argv = ssh_command(lab.config, host, *command, batch=bool(command))
    os.execvp(argv[0], argv)


def _shown(path) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        return str(path.relative_to(os.getcwd()))
    except ValueError:
        return str(path)


@click.command()
@click.option(
    "--keep/--down",
    default=True,
    show_default=True,
    help="Leave the lab running afterwards (or tear it down).",
)
def demo(keep):
    """Bring up the lab (bookworm + trixie), apply, verify, and show both tables."""
    from provision.core import startup

    from .demo import run_demo

    startup.started()
    click.get_current_context().exit(run_demo(keep))


COMMANDS = (lab_group, demo)
