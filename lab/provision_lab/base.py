"""Base root filesystems, built once per suite with debootstrap and cached."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision.orchestrate.progress import SILENT

from .config import LabConfig
from .errors import LabError

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "sudo",
    "python3",
    "ca-certificates",
    "iproute2",
)
MARKER = ".provision-base"


def recipe(suite: str, mirror: str) -> str:
    """A digest of everything the base depends on: a change rebuilds it."""
    text = f"debootstrap --variant=minbase --include={','.join(PACKAGES)} {suite} {mirror}"
    return hashlib.sha256(text.encode()).hexdigest()


def base_path(config: LabConfig, suite: str) -> Path:
    return config.cache_dir / "base" / suite


def is_cached(config: LabConfig, suite: str) -> bool:
    marker = base_path(config, suite) / MARKER
    return marker.exists() and marker.read_text().strip() == recipe(suite, config.mirror)


def check_archive(mirror: str, suite: str) -> None:
    """Fail early, in one sentence, when the Debian archive cannot be reached."""
    url = f"{mirror}/dists/{suite}/InRelease"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=15).close()
    except (urllib.error.URLError, OSError) as error:
        raise LabError(
            f"cannot reach the Debian archive at {url} ({error}); check the network or set "
            "PROVISION_LAB_MIRROR to a reachable mirror."
        ) from error


def build(config: LabConfig, suite: str, board=SILENT) -> Path:
    """Debootstrap ``suite`` into the cache (atomically) unless it is there already."""
    target = base_path(config, suite)
    if is_cached(config, suite):
        return target
    task = f"{suite} base"
    board.set(task, "debootstrap from the Debian archive (a minute or two)")
    try:
        return _debootstrap(config, suite, target, lambda text: board.set(task, text))
    finally:
        board.done(task)


def _debootstrap(config: LabConfig, suite: str, target: Path, say) -> Path:
    check_archive(config.mirror, suite)
    scratch = target.with_name(f"{suite}.building")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        suite,
        str(scratch),
        config.mirror,
    ]
    tail: deque[str] = deque(maxlen=3)
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout or ():  # "I: Retrieving libc6 2.36-9", "I: Configuring ..."
            tail.append(line.strip())
            if line.startswith("I: "):
                say(f"debootstrap: {line[3:].strip()}")
    if process.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise LabError(f"debootstrap of {suite} failed: {' / '.join(tail)}")
    (scratch / MARKER).write_text(recipe(suite, config.mirror) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    return target


def build_all(config: LabConfig, suites: set[str], board=SILENT) -> dict[str, Path]:
    """Build the bases of several suites in parallel."""
    with ThreadPoolExecutor(max_workers=max(1, len(suites))) as pool:
        built = pool.map(lambda s: build(config, s, board), suites)
        return dict(zip(suites, built, strict=True))
