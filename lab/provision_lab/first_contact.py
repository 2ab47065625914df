"""Lab hosts before first contact: one user may log in, with a password.

As providers hand servers over: root with a password, or an image's default user (``ubuntu``)
whose sudo asks for that password. There is no other login user, key or sudo rule yet.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import LabError
from .system import run


@dataclass(frozen=True)
class FirstContact:
    """The one login of a fresh server: ``user`` with ``password``."""

    password: str
    user: str = "root"

    def sshd_config(self) -> str:
        root = "yes" if self.user == "root" else "no"
        return (
            f"PermitRootLogin {root}\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
        )

    def prepare(self, root: Path) -> None:
        """Write this login into the host's root filesystem ``root`` (before it boots)."""
        (root / "etc/ssh/sshd_config.d/provision-lab.conf").write_text(self.sshd_config())
        if self.user != "root":
            run(
                ["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", self.user]
            )
            rule = root / f"etc/sudoers.d/90-{self.user}"
            rule.write_text(f"{self.user} ALL=(ALL:ALL) ALL\n")  # sudo asks for the password
            os.chmod(rule, 0o440)
        run(["chroot", str(root), "chpasswd"], input=f"{self.user}:{self.password}\n")


def wait_for_login(name: str, address: str, contact: FirstContact, alive, timeout=90.0) -> None:
    """Wait until ``contact`` logs in and systemd has finished booting.

    The host key is not checked here: the lab wrote it, and bootstrap's own first contact is
    what the tests examine.
    """
    import paramiko  # only when a host is reset for first contact: `lab status` stays fast

    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise LabError(f"lab host {name} stopped while booting.")
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(
                address,
                username=contact.user,
                password=contact.password,
                timeout=5,
                look_for_keys=False,
                allow_agent=False,
            )
            _, out, _ = client.exec_command("systemctl is-system-running --wait")
            state = out.read().decode().strip()
            if state in ("running", "degraded"):
                return
            last = f"state {state}"
        except (OSError, paramiko.SSHException) as error:  # not up yet, or logins still refused
            last = str(error) or type(error).__name__
        finally:
            client.close()
        time.sleep(0.3)
    raise LabError(
        f"lab host {name} ({address}) let no {contact.user} login in within {timeout:.0f} s "
        f"({last})."
    )
