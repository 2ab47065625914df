"""The ``provision`` command: one click group; each command family in its own module
(``runs``, ``checks``, ``fleet``, and the lab's when ``provision_lab`` is installed).

Every command parses, calls the library, prints, and ends in ``common.finish`` with its exit
code; ``main`` turns the errors a user can fix into one line and exit code 2, and is the one
place the process exits. Exit codes: 0 every host fine; 1 a host failed (apply) or a check
failed (verify); 2 bad usage, inventory or settings, reported before any host is touched.
"""

from __future__ import annotations

import importlib.util
import sys

import click

from provision.core import logs, startup
from provision.core.errors import SettingsError, UsageError

from . import checks, fleet, runs

# pyinfra, testinfra and rich load only inside the commands that use them: `--help`, `lab`
# commands and usage errors stay fast.


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


def lab_commands() -> tuple:
    """The lab's commands (``lab``, ``demo``) when ``provision_lab`` is installed."""
    if importlib.util.find_spec("provision_lab") is None:
        return ()
    from provision_lab.cli import COMMANDS

    return COMMANDS


for command in (*runs.COMMANDS, *checks.COMMANDS, *fleet.COMMANDS, *lab_commands()):
    cli.add_command(command)


def main() -> None:
    """Entry point: run the command and exit with its code; errors the user can fix become
    one line and exit code 2; a signal before the run began is one line and 130/143."""
    from provision.core import interrupt

    startup.starting()
    logs.configure(0)
    try:
        with interrupt.catching():
            code = cli(standalone_mode=False)
    except (UsageError, SettingsError) as error:
        code = fail(str(error))
    except click.UsageError as error:
        where = error.ctx.command_path if error.ctx else "provision"
        code = fail(f"{where}: {error.format_message()} (see `{where} --help`).")
    except click.ClickException as error:
        code = fail(error.format_message(), error.exit_code)
    except click.Abort:  # Ctrl-C or SIGTERM outside a run's own handling
        code = fail(f"interrupted by {interrupt.received()}.", interrupt.exit_code())
    finally:
        startup.started()  # no collection over the whole heap on the way out
    sys.exit(code if isinstance(code, int) else 0)


def fail(message: str, code: int = 2) -> int:
    """Print ``error: MESSAGE`` as one line on stderr, secrets masked (red on a terminal unless
    NO_COLOR); ``code`` is the exit code to end with."""
    import os

    from provision.core.redact import text

    line = "error: " + " ".join(text(message).split())
    colour = None if os.environ.get("NO_COLOR") else "red"
    click.secho(line, fg=colour, err=True)
    return code
