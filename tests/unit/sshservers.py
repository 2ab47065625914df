"""Fake SSH servers on 127.0.0.1 for the error paths, in a process of their own (the
controller's gevent would take over threads): ``drop`` accepts each connection and closes it,
``silent`` accepts and never says a word. Each counts the connections it took, and can send
the controller a signal when it takes its first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SERVER = """
import os, socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
print(server.getsockname()[1], flush=True)
held = []
while True:
    conn, _ = server.accept()
    with open(sys.argv[2], "a") as count:
        count.write("x")
    if len(sys.argv) > 3:  # the controller's pid and a signal, sent once, and when
        with open(sys.argv[2] + ".signalled", "w") as sent:
            sent.write(repr(time.time()))
        os.kill(int(sys.argv[3]), int(sys.argv.pop(4)))
        sys.argv.pop(3)
    if sys.argv[1] == "drop":
        conn.close()
    else:
        held.append(conn)
"""


class FakeServer:
    """A listening fake SSH server; ``behaviour`` is ``drop`` or ``silent``."""

    def __init__(self, behaviour: str, work: Path, signal_on_accept: int | None = None):
        self.count = work / f"{behaviour}.accepted"
        self.count.write_text("")
        to = [str(os.getpid()), str(signal_on_accept)] if signal_on_accept else []
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, behaviour, str(self.count), *to],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.process.stdout.readline())

    @property
    def accepted(self) -> int:
        return len(self.count.read_text())

    @property
    def signalled(self) -> float:
        """When it sent its signal (``time.time()``)."""
        return float(Path(f"{self.count}.signalled").read_text())

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()

    def inventory(self, hosts: int = 1, known_hosts: str = "/dev/null", **data) -> str:
        """An inventory whose hosts ``web1``... all point at this server."""
        entry = {
            "ssh_hostname": "127.0.0.1",
            "ssh_port": self.port,
            "ssh_user": "deploy",
            "ssh_known_hosts_file": known_hosts,
            **data,
        }
        rows = ", ".join(f"('web{n}', {entry!r})" for n in range(1, hosts + 1))
        return f"web = [{rows}]\n"
