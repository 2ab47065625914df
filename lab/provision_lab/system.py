"""Small wrappers around the host's tools: commands, processes and mounts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import LabError

# tool -> Debian package that provides it
REQUIRED_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "iptables": "iptables",
    "ip": "iproute2",
    "gpg": "gnupg",
    "apt-ftparchive": "apt-utils",
    "dpkg-deb": "dpkg",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def run(args: Sequence[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; raise ``LabError`` naming it on failure."""
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LabError(f"`{' '.join(args)}` failed: {detail[-1] if detail else result.returncode}")
    return result


def require_root() -> None:
    """The lab mounts, boots containers and changes the firewall: it needs root."""
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (it mounts filesystems and boots containers); rerun as root."
        )


def require_tools(tools: Iterable[str] = REQUIRED_TOOLS) -> None:
    """Fail with the Debian packages to install when a tool is missing."""
    missing = sorted({REQUIRED_TOOLS[tool] for tool in tools if not shutil.which(tool)})
    if missing:
        raise LabError(
            f"missing system packages: {', '.join(missing)}; run `make lab-deps` "
            f"(or `apt-get install {' '.join(missing)}`) as root."
        )


def process_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live (non-zombie) process."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def cmdline(pid: int) -> list[str]:
    """The argument vector of a process, empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def pids_matching(predicate) -> list[int]:
    """Pids of processes for which ``predicate(pid)`` is true."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if predicate(int(entry.name)):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def container_inits_under(directory: Path) -> list[int]:
    """PID 1 of each container whose root overlay lives below ``directory``.

    Such a container outlives a killed systemd-nspawn; killing its init ends all of it.
    """
    marker = f"upperdir={directory.resolve()}/"

    def is_init(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/status") as status:
                nspid = next(line for line in status if line.startswith("NSpid:")).split()
            if len(nspid) < 3 or nspid[-1] != "1":
                return False
            with open(f"/proc/{pid}/mountinfo") as mounts:
                return any(marker in line for line in mounts)
        except (OSError, StopIteration):
            return False

    return pids_matching(is_init)


def terminate(pids: Iterable[int], timeout: float = 20.0) -> None:
    """SIGTERM the processes, wait up to ``timeout``, then SIGKILL what is left."""
    pids = [pid for pid in pids if process_alive(pid)]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(process_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if process_alive(pid):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(process_alive(pid) for pid in pids):
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below ``directory``, deepest first."""
    prefix = str(directory.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def unmount_all(directory: Path) -> None:
    """Unmount everything below ``directory``, lazily when a mount is busy."""
    for point in mounts_under(directory):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)
