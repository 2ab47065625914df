"""Lab base systems: debootstrap's progress reaches the board, and its failure is one sentence."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from provision_lab import base
from provision_lab.config import LabConfig
from provision_lab.errors import LabError

FAKE_DEBOOTSTRAP = """\
#!/bin/sh
echo "I: Retrieving InRelease"
echo "W: a warning"
echo "I: Unpacking the base system..."
mkdir -p "$4"
exit {code}
"""


class Board:
    def __init__(self):
        self.seen: list[tuple[str, str]] = []
        self.finished: list[str] = []

    def set(self, task: str, text: str) -> None:
        self.seen.append((task, text))

    def done(self, task: str) -> None:
        self.finished.append(task)


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A lab config whose mirror is a local directory and whose debootstrap is a script."""
    mirror = tmp_path / "mirror"
    (mirror / "dists/bookworm").mkdir(parents=True)
    (mirror / "dists/bookworm/InRelease").write_text("")
    tools = tmp_path / "bin"
    tools.mkdir()
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    return dataclasses.replace(
        LabConfig.from_env(), cache_dir=tmp_path / "cache", mirror=f"file://{mirror}"
    )


def fake_debootstrap(config: LabConfig, code: int) -> None:
    tool = Path(os.environ["PATH"].split(os.pathsep)[0]) / "debootstrap"
    tool.write_text(FAKE_DEBOOTSTRAP.format(code=code))
    tool.chmod(0o755)


def test_debootstrap_says_what_it_does(config):
    fake_debootstrap(config, 0)
    board = Board()
    path = base.build(config, "bookworm", board)
    assert base.is_cached(config, "bookworm") and path == base.base_path(config, "bookworm")
    texts = [text for task, text in board.seen if task == "bookworm base"]
    assert texts == [
        "debootstrap from the Debian archive (a minute or two)",
        "debootstrap: Retrieving InRelease",
        "debootstrap: Unpacking the base system...",
    ]
    assert board.finished == ["bookworm base"]
    assert base.build(config, "bookworm", Board()) == path  # cached: nothing to say


def test_failed_debootstrap_names_its_last_lines(config):
    fake_debootstrap(config, 1)
    board = Board()
    with pytest.raises(LabError) as failed:
        base.build(config, "bookworm", board)
    assert str(failed.value) == (
        "debootstrap of bookworm failed: I: Retrieving InRelease / W: a warning / "
        "I: Unpacking the base system..."
    )
    assert board.finished == ["bookworm base"]
    assert not base.base_path(config, "bookworm").exists()
