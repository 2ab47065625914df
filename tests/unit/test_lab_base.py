"""Lab base systems: debootstrap's progress reaches the board, and its failure is one sentence."""

from __future__ import annotations

import dataclasses
import hashlib
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


RECORDING = """\
#!/bin/sh
echo "$@" >> "{log}"
[ "$1" = "--variant=minbase" ] && mkdir -p "$4"
exit {code}
"""


def recording(config: LabConfig, tool: str, code: int = 0) -> Path:
    """Put ``tool`` on PATH as a script that logs its arguments and exits with ``code``."""
    bin_dir = Path(os.environ["PATH"].split(os.pathsep)[0])
    log = bin_dir / f"{tool}.log"
    (bin_dir / tool).write_text(RECORDING.format(log=log, code=code))
    (bin_dir / tool).chmod(0o755)
    return log


def archive_has(config: LabConfig, suite: str) -> None:
    (Path(config.mirror.removeprefix("file://")) / f"dists/{suite}").mkdir(parents=True)
    (Path(config.mirror.removeprefix("file://")) / f"dists/{suite}/InRelease").write_text("")


def test_the_default_bases_keep_their_recipe():
    """Existing caches stay valid: the default suites' recipe is debootstrap's command alone."""
    mirror = "http://deb.debian.org/debian"
    include = ",".join(base.PACKAGES)
    for suite in ("bookworm", "trixie"):
        text = f"debootstrap --variant=minbase --include={include} {suite} {mirror}"
        assert base.recipe(suite, mirror) == hashlib.sha256(text.encode()).hexdigest()
    assert len({base.recipe(name, mirror) for name in base.KINDS}) == len(base.KINDS)


def test_forky_is_made_with_sids_script(config):
    archive_has(config, "forky")
    log, chroot = recording(config, "debootstrap"), recording(config, "chroot")
    path = base.build(config, "forky")
    target = base.base_path(config, "forky").with_name("forky.building")
    assert log.read_text().split() == [
        "--variant=minbase",
        f"--include={','.join(base.PACKAGES)}",
        "forky",
        str(target),
        config.mirror,
        "/usr/share/debootstrap/scripts/sid",
    ]
    assert chroot.read_text() == (  # apt takes testing's Release also when the copy is old
        f"{target} sh -c echo 'Acquire::Check-Valid-Until \"false\";' > "
        "/etc/apt/apt.conf.d/90provision-lab\n"
    )
    assert path == base.base_path(config, "forky") and base.is_cached(config, "forky")


def test_the_sudo_rs_base_makes_sudo_sudo_rs(config):
    archive_has(config, "trixie")
    debootstrap, chroot = recording(config, "debootstrap"), recording(config, "chroot")
    path = base.build(config, "trixie-sudo-rs")
    assert "sudo-rs" in debootstrap.read_text().split()[1].split(",")
    scratch = path.with_name("trixie-sudo-rs.building")
    assert chroot.read_text().splitlines() == [
        f"{scratch} dpkg-divert --local --rename --divert /usr/bin/sudo.ws --add /usr/bin/sudo",
        f"{scratch} ln -s /usr/lib/cargo/bin/sudo /usr/bin/sudo",
    ]
    assert base.is_cached(config, "trixie-sudo-rs")


def test_a_failed_setup_leaves_no_base(config):
    archive_has(config, "trixie")
    recording(config, "debootstrap")
    recording(config, "chroot", code=1)
    with pytest.raises(LabError, match="dpkg-divert .* in the trixie-sudo-rs base failed"):
        base.build(config, "trixie-sudo-rs")
    assert not base.base_path(config, "trixie-sudo-rs").exists()
    assert (
        not base.base_path(config, "trixie-sudo-rs").with_name("trixie-sudo-rs.building").exists()
    )


def test_an_unknown_base_is_one_sentence(config):
    with pytest.raises(LabError, match=r"no lab base named 'sid' \(bases: bookworm, trixie, forky"):
        base.build(config, "sid")
