"""Long work shown on stderr while it runs: a live display on terminals, and elsewhere (CI
logs, pipes) a plain line every few seconds."""

from __future__ import annotations

import sys
import threading
import time

EVERY_S = 5.0  # seconds between plain lines
REDRAW_S = 0.25  # seconds between redraws of the live display
SCREEN = 24  # tasks a plain line names one by one; beyond, it counts the tasks per activity


class Board:
    """What each task of a long job is doing now (``set``), and for how long.

    Use as a context manager; ``set`` and ``done`` may be called from any thread. They cost
    the same whatever the number of tasks: the display is redrawn by its own thread, a few
    times a second, never by them.
    """

    def __init__(self, title: str, every: float = EVERY_S, stream=None):
        self.title, self.every = title, every
        self.stream = stream or sys.stderr
        self.tasks: dict[str, tuple[str, float]] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._live = None
        self._thread: threading.Thread | None = None

    def set(self, task: str, text: str) -> None:
        """``task`` is now doing ``text`` (secrets redacted)."""
        from provision.core import redact

        text = redact.text(text)
        with self._lock:
            since = self.tasks[task][1] if task in self.tasks else time.monotonic()
            self.tasks[task] = (text, since)

    def done(self, task: str) -> None:
        with self._lock:
            self.tasks.pop(task, None)

    def line(self) -> str:
        """The plain line: every task and what it does (beyond ``SCREEN`` tasks, how many do
        each thing), and the time so far."""
        with self._lock:
            tasks = {task: text for task, (text, _) in self.tasks.items()}
        if len(tasks) > SCREEN:
            counts: dict[str, int] = {}
            for text in tasks.values():
                counts[text] = counts.get(text, 0) + 1
            ranked = sorted(counts.items(), key=lambda item: -item[1])
            parts = [f"{text}: {count}" for text, count in ranked]
        else:
            parts = [f"{task}: {text}" for task, text in tasks.items()]
        elapsed = time.monotonic() - self.started
        return f"{self.title} ({elapsed:.0f} s): " + ("; ".join(parts) or "finishing")

    def table(self):
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, show_header=False, title=self.title, title_justify="left")
        now = time.monotonic()
        with self._lock:
            for task, (text, since) in self.tasks.items():
                table.add_row(escape(task), f"[cyan]{escape(text)}[/]", f"{now - since:.0f} s")
        return table

    def __enter__(self) -> Board:
        if self.stream.isatty():
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream)
            self._live = Live(self.table(), console=console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self._live is not None:
            self._live.__exit__(*exc)

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_S if self._live else self.every):
            if self._live is None:
                print(self.line(), file=self.stream, flush=True)
            else:
                self._live.update(self.table())


class Silent:
    """A board that shows nothing (library calls, tests)."""

    def set(self, task: str, text: str) -> None:
        pass

    def done(self, task: str) -> None:
        pass


SILENT = Silent()
