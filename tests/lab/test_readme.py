"""The README's plain-pyinfra and plain-pytest lines, run as written against the lab."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from provision.lab.config import project_root

from .conftest import sh

SECTION = "### With plain pyinfra and plain pytest"


def readme_lines() -> list[str]:
    """The command lines of the section's first ``sh`` block."""
    text = (project_root() / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text[text.index(SECTION) :], re.DOTALL)
    assert block, f"README.md has no sh block under {SECTION!r}"
    return [line for line in block.group(1).splitlines() if line.strip()]


INSTALLED = "dpkg-query -W -f='${db:Status-Abbrev}' docker-ce 2>/dev/null | grep -q '^ii'"


def run(line: str) -> subprocess.CompletedProcess:
    """``line`` in a shell at the project root, with the virtualenv's commands on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '')}")
    return subprocess.run(
        ["bash", "-c", line],
        cwd=project_root(),
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
