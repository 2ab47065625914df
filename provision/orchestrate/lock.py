"""A host-side lock, so that two controllers never run on one host at the same time.

The lock is ``flock(1)`` on ``/run/provision.lock``, taken by a small shell that then waits
for its standard input to close. That shell runs in a channel of the run's own SSH connection:
the lock is held for as long as the run holds that connection, and released when the run
closes it, exits or dies (sshd closes the shell's input and the shell exits). Nothing is left
behind to expire or to clean up. While it holds the lock the shell writes who holds it into the
lock file: the controller's host name, process, user and start time, so a run that waits can
say for whom. The file is root's alone (mode 600): ``flock`` needs only a descriptor, so a file
any user could open would let any user hold every run off. Every run enforces that: a lock
file of another mode or owner (an older version's, or one planted) is removed and made anew, so
a descriptor opened on it while it was readable holds nothing.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

LOCK_FILE = "/run/provision.lock"
HELD_EXIT = 75
# $1 lock file, $2 this run's owner line, $3 seconds to wait
SCRIPT = """\
umask 077
[ "$(stat -c %a:%u "$1" 2>/dev/null)" = "600:$(id -u)" ] || rm -f "$1"
exec 9<>"$1" || exit 70
if ! flock -n 9; then
  printf 'waiting %s\\n' "$(cat "$1")"
  flock -w "$3" 9 || { printf 'held %s\\n' "$(cat "$1")"; exit 75; }
fi
printf '%s\\n' "$2" >"$1"
echo locked
read -r _ || true
"""


class LockError(Exception):
    """The lock could not be taken; the message names the host and what to do."""


def owner(started: datetime | None = None) -> str:
    """Who this run is: controller host name, process, user and start time (UTC)."""
    when = (started or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"controller {socket.gethostname()} (pid {os.getpid()}, user {user}), started {when}"


def command(wait: float, who: str, sudo: bool) -> str:
    """The shell command that takes the lock, every value quoted."""
    argv = ["sh", "-c", SCRIPT, "provision-lock", LOCK_FILE, who, str(max(0, int(wait)))]
    return ("sudo -n " if sudo else "") + shlex.join(argv)


@dataclass
class HostLock:
    """The lock of one host, taken over an open paramiko ``transport``."""

    host: str
    transport: object
    sudo: bool = True
    channel: object = None

    def acquire(self, wait: float, who: str, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to ``wait`` seconds for another run to release it."""
        self.channel = self.transport.open_session()
        self.channel.settimeout(wait + 60)
        self.channel.exec_command(command(wait, who, self.sudo))
        lines = self.channel.makefile("r")
        try:
            for line in lines:
                word, _, rest = line.strip().partition(" ")
                if word == "locked":
                    return
                if word == "waiting" and on_wait:
                    on_wait(rest)
                elif word == "held":
                    raise LockError(
                        f"{self.host}: another provision run holds this host ({rest or 'unknown'})"
                        f" and still held it after {wait:.0f} s, so nothing ran here; wait for "
                        "that run to finish or raise --lock-wait."
                    )
        except TimeoutError:
            pass
        said = self.channel.makefile_stderr("r").read()  # bytes, whatever the mode
        error = (said.decode(errors="replace") if isinstance(said, bytes) else said).splitlines()
        error = [line.strip() for line in error if line.strip()]
        self.release()
        raise LockError(
            f"{self.host}: could not take the host lock {LOCK_FILE} "
            f"({error[-1] if error else 'no answer'}); the deploy user needs passwordless sudo "
            "and flock (util-linux)."
        )

    def release(self) -> None:
        """Let go of the lock: the shell's input closes and it exits."""
        channel, self.channel = self.channel, None
        if channel is not None:
            try:
                channel.close()
            except (OSError, EOFError):  # the connection is gone, and the lock with it
                pass
