"""``provision demo``: the main job end to end on two local lab hosts."""

from __future__ import annotations

import click

from provision.docker.deploy import install_docker
from provision.orchestrate import inventory as fleet_inventory
from provision.orchestrate.progress import Board
from provision.orchestrate.run import run_deploy
from provision.report import tables as report
from provision.verify.run import verify
from provision_lab.config import project_root
from provision_lab.lab import Lab
from provision_lab.show import print_status


def run_demo(keep: bool = True) -> int:
    """Lab up (bookworm + trixie), apply, verify, print; return the exit code."""
    click.secho("1/3 starting lab hosts (first run builds Debian bases: a few minutes)", bold=True)
    lab = Lab()
    with Board("lab up") as board:
        print_status(lab.up(2, ["bookworm", "trixie"], board))
    fleet = fleet_inventory.load(str(project_root() / "inventories" / "lab.py"))
    click.secho("2/3 provision apply -i inventories/lab.py", bold=True)
    with Board("provision apply") as board:
        applied = run_deploy(fleet, install_docker, "apply", progress=board.set)
    report.print_table(report.apply_table(applied))
    click.secho("3/3 provision verify -i inventories/lab.py", bold=True)
    verified = verify(fleet)
    report.print_table(report.verify_table(verified))
    if keep:
        click.echo(
            "Log in: provision lab ssh lab1   (or ssh -F .lab/ssh_config lab1)\n"
            "Again:  provision apply -i inventories/lab.py   (changes nothing now)\n"
            "Tear down: provision lab down"
        )
    else:
        lab.down()
    return 0 if applied.ok and verified.ok else 1
