"""The README's plain-pyinfra and plain-pytest lines, run as written against the lab."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from provision_lab.config import project_root
from provision_lab.inventory import lab_groups

from .conftest import sh

SECTION = "### With plain pyinfra and plain pytest"


def readme_lines() -> list[str]:
    """The command lines of the section's first ``sh`` block."""
    text = (project_root() / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text[text.index(SECTION) :], re.DOTALL)
    assert block, f"README.md has no sh block under {SECTION!r}"
    return [line for line in block.group(1).splitlines() if line.strip()]


INSTALLED = "dpkg-query -W -f='${db:Status-Abbrev}' docker-ce 2>/dev/null | grep -q '^ii'"


def run(
    line: str, folder: Path | None = None, env: dict | None = None, first: Path | None = None
) -> subprocess.CompletedProcess:
    """``line`` in a shell in ``folder`` (the project root), with the virtualenv's commands on
    PATH (after ``first``), and ``env`` added to the environment."""
    bin_dir = str(Path(sys.executable).parent)
    path = ":".join([*([str(first)] if first else []), bin_dir, os.environ.get("PATH", "")])
    env = dict(os.environ, **(env or {}), PATH=path)
    return subprocess.run(
        ["bash", "-c", line],
        cwd=folder or project_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_plain_pyinfra_and_pytest_lines_run_as_written(lab):
    install, check, remove = readme_lines()
    assert install.startswith("pyinfra ") and check.startswith("pytest ")
    assert remove.startswith("pyinfra ") and "docker_uninstall" in remove

    installed = run(install)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    assert sh(lab, "lab2", INSTALLED, check=False).returncode == 0

    checked = run(check)
    assert checked.returncode == 0, checked.stdout[-3000:]
    passed = re.search(r"\b(\d+) passed\b", checked.stdout)
    assert passed and int(passed.group(1)) >= 20, checked.stdout[-1000:]  # every check of a host
    assert "lab1" not in checked.stdout  # --limit lab2

    removed = run(remove)
    assert removed.returncode == 0, removed.stdout[-2000:] + removed.stderr[-2000:]
    assert sh(lab, "lab2", INSTALLED, check=False).returncode != 0

    failing = run(check)  # the same checks now find Docker missing
    assert failing.returncode == 1, failing.stdout[-2000:]
    assert "test_packages_installed" in failing.stdout


OWN = "## On your own servers"


def own_servers_blocks() -> tuple[str, list[str]]:
    """The section's inventory (its ``python`` block) and its command lines (``sh`` blocks)."""
    text = (project_root() / "README.md").read_text()
    section = text[text.index(OWN) :].split("\n## ", 1)[0]
    inventory = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    lines = [
        line
        for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
        for line in block.splitlines()
        if line.strip()
    ]
    assert inventory and lines, f"README.md has no python and sh blocks under {OWN!r}"
    return inventory.group(1), lines


def test_the_own_servers_section_runs_as_written_against_a_lab_host(lab, tmp_path):
    """Its inventory and lines as a user runs them: the tool installed with pipx from a copy of
    this checkout and from a wheel (built as the section says), then its three commands against
    lab2 with the installed tool."""
    inventory, lines = own_servers_blocks()
    install = [line for line in lines if line.startswith("pipx install ")]
    commands = [line for line in lines if line.startswith("provision ")]
    assert len(install) == 2 and len(commands) == 3 and len(lines) == 5
    file = re.match(r"# (\S+\.py)\n", inventory).group(1)
    written = {}
    exec(compile(inventory, file, "exec"), written)  # the README's inventory is valid Python
    assert [name for name, _ in written["servers"]] == ["server1.example.com"]

    checkout = tmp_path / "provision"  # the controller's checkout: ./provision
    ignore = shutil.ignore_patterns(".venv", ".lab", ".git", "__pycache__", "*.egg-info", "build")
    shutil.copytree(project_root(), checkout, ignore=ignore)
    wheel = re.search(r"built with `(pip wheel [^`]+)`", install[1])
    assert wheel, install[1]
    built = run(wheel.group(1), checkout)  # the wheel of the second line, in the checkout
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    installed = {}
    for line, folder, name in ((install[0], tmp_path, "checkout"), (install[1], checkout, "wheel")):
        pipx = {"PIPX_HOME": str(tmp_path / name), "PIPX_BIN_DIR": str(tmp_path / name / "bin")}
        done = run(line, folder, pipx)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        installed[name] = tmp_path / name / "bin"
        assert (installed[name] / "provision").exists()

    # the user's inventory, for a host of the lab: lab2 with its address, user, key, repository
    # written out as data (the installed tool has no lab package to read the lab's state with)
    servers = tmp_path / "servers"
    servers.mkdir()
    lab2 = [host for host in lab_groups()["lab"] if host[0] == "lab2"]
    (servers / file).write_text(f"servers = {lab2!r}\n")
    lab.reset("lab2")
    user = {"PROVISION_LAB_DIR": str(lab.config.lab_dir)}
    for name in ("checkout", "wheel"):
        which = run("command -v provision", servers, user, installed[name])
        assert which.stdout.strip() == str(installed[name] / "provision")
    dry, install_run, check = (run(line, servers, user, installed["wheel"]) for line in commands)
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    assert "lab2" in dry.stdout and "lab1" not in dry.stdout
    assert install_run.returncode == 0, install_run.stdout[-2000:] + install_run.stderr[-2000:]
    assert sh(lab, "lab2", INSTALLED, check=False).returncode == 0
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-2000:]
    assert "lab2" in check.stdout and "lab1" not in check.stdout
    from_checkout = run(commands[2], servers, user, installed["checkout"])  # the same proof
    assert from_checkout.returncode == 0, from_checkout.stdout[-3000:]
