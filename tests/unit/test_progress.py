"""Progress of long work: a plain line every few seconds in logs, a live display on terminals."""

from __future__ import annotations

import io
import time

from provision.orchestrate.progress import Board


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_logs_get_a_plain_line_every_few_seconds():
    log = io.StringIO()
    with Board("lab up", every=0.05, stream=log) as board:
        board.set("Docker repository", "repackaging 3/11 done")
        board.set("lab1", "booting")
        wait_for(lambda: log.getvalue().count("\n") >= 2)
        board.done("lab1")
        lines = log.getvalue().count("\n")
        wait_for(lambda: log.getvalue().count("\n") > lines)
    text = log.getvalue()
    first, last = text.splitlines()[0], text.splitlines()[-1]
    assert first.startswith("lab up (0 s): ")
    assert "Docker repository: repackaging 3/11 done; lab1: booting" in first
    assert "lab1" not in last  # done
    assert "\x1b" not in text  # no terminal control codes in logs


def test_quick_work_prints_nothing_into_logs_and_long_work_does():
    log = io.StringIO()
    with Board("provision apply", every=0.3, stream=log) as board:
        board.set("web1", "Install Docker packages (11/16)")
        assert log.getvalue() == ""  # done within the first interval: nothing to say
        wait_for(lambda: "web1: Install Docker packages (11/16)" in log.getvalue())
    quick = io.StringIO()
    with Board("provision apply", every=5.0, stream=quick) as board:
        board.set("web1", "Install Docker packages (11/16)")
    assert quick.getvalue() == ""


def test_terminals_get_a_live_display():
    screen = Terminal()
    with Board("provision apply", every=0.05, stream=screen) as board:
        board.set("web1", "Install Docker packages (11/16)")
        wait_for(lambda: "Install Docker packages (11/16)" in screen.getvalue())
    assert "provision apply (" not in screen.getvalue()  # no plain lines


def test_a_fleet_larger_than_a_screen_is_counted_per_operation():
    board = Board("provision apply", stream=io.StringIO())
    for n in range(1, 61):
        board.set(f"web{n}", "connecting" if n <= 40 else "Install Docker (2/8)")
    line = board.line()
    assert line.startswith("provision apply (0 s): connecting: 40; Install Docker (2/8): 20")
    assert "web" not in line
    small = Board("provision apply", stream=io.StringIO())
    for n in range(1, 4):
        small.set(f"web{n}", "connecting")
    assert small.line().endswith("web1: connecting; web2: connecting; web3: connecting")
