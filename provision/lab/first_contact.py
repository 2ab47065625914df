"""Lab hosts before first contact: only root may log in, with a password."""

from __future__ import annotations

import time

import paramiko

from .errors import LabError


def wait_for_root_login(name: str, address: str, password: str, alive, timeout=90.0) -> None:
    """Wait until root logs in with ``password`` and systemd has finished booting.

    The host key is not checked here: the lab wrote it, and bootstrap's own first contact is
    what the tests examine.
    """
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise LabError(f"lab host {name} stopped while booting.")
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(
                address,
                username="root",
                password=password,
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
        f"lab host {name} ({address}) let no root login in within {timeout:.0f} s ({last})."
    )
