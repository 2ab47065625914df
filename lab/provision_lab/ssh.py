"""SSH material of the lab: the client key, per-host host keys, known_hosts and ssh_config."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from provision.ssh.config import host_block

from .config import LabConfig
from .errors import LabError
from .system import run


def ensure_client_key(config: LabConfig) -> Path:
    """The key the inventory logs in with (generated once)."""
    if not config.key_file.exists():
        config.lab_dir.mkdir(parents=True, exist_ok=True)
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "provision-lab",
                "-f",
                str(config.key_file),
            ]
        )
    return config.key_file


def ensure_host_key(config: LabConfig, name: str) -> Path:
    """A host key per lab host name, stable across ``lab down`` so known_hosts stays valid."""
    key = config.lab_dir / "hostkeys" / name / "ssh_host_ed25519_key"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(key)])
    return key


def write_client_files(config: LabConfig, hosts: dict[str, str]) -> None:
    """Write known_hosts and an ssh_config usable by ``ssh -F`` and testinfra's ``--ssh-config``."""
    known, blocks = [], []
    for name, address in sorted(hosts.items()):
        public = (ensure_host_key(config, name).with_suffix(".pub")).read_text().split()
        known.append(f"{name},{address} {public[0]} {public[1]}")
        blocks.append(
            host_block(
                name,
                {
                    "HostName": address,
                    "User": config.user,
                    "IdentityFile": config.key_file,
                    "IdentitiesOnly": "yes",
                    "UserKnownHostsFile": config.known_hosts,
                    "StrictHostKeyChecking": "yes",
                    "HostKeyAlias": name,
                    "ConnectTimeout": 10,
                    "LogLevel": "ERROR",
                },
            )
        )
    config.known_hosts.write_text("".join(line + "\n" for line in known))
    config.ssh_config.write_text("\n".join(blocks))
    config.hosts_file.write_text(
        "".join(f"{address} {name}\n" for name, address in sorted(hosts.items()))
    )


def ssh_command(config: LabConfig, name: str, *command: str, batch: bool = True) -> list[str]:
    """The argv of ``ssh`` into a lab host with the lab's config (``batch``: never prompt)."""
    options = ["-o", "BatchMode=yes"] if batch else []
    return ["ssh", "-F", str(config.ssh_config), *options, name, *command]


def wait_for_ssh(config: LabConfig, name: str, address: str, alive, timeout: float = 90.0) -> None:
    """Wait for sshd to answer, then for systemd to finish booting (while ``alive()``)."""
    deadline = time.monotonic() + timeout
    while not _port_open(address, 22):
        if not alive():
            log = config.hosts_dir / name / "console.log"
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            raise LabError(
                f"lab host {name} stopped while booting: "
                f"{lines[-1] if lines else 'no output'} (see {log})."
            )
        if time.monotonic() > deadline:
            raise LabError(
                f"lab host {name} ({address}) did not open SSH within {timeout:.0f} s; "
                f"see {config.hosts_dir / name / 'console.log'}."
            )
        time.sleep(0.2)
    state, detail = "", ""
    while time.monotonic() < deadline:
        try:
            result = subprocess.run(
                ssh_command(config, name, "systemctl", "is-system-running", "--wait"),
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
            )
        except subprocess.TimeoutExpired:
            break
        state, detail = result.stdout.strip(), result.stderr.strip()
        if state in ("running", "degraded"):
            return
        if state:  # systemd answered with a final state such as "maintenance"
            break
        time.sleep(0.3)  # logins are refused until systemd-user-sessions has run
    raise LabError(
        f"lab host {name} did not finish booting within {timeout:.0f} s "
        f"(state {state or 'unknown'}: {detail or 'no answer'})."
    )


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            sock.settimeout(1)
            return sock.recv(4).startswith(b"SSH")
    except OSError:
        return False
