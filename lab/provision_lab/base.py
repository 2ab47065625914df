"""Base root filesystems, built once per kind with debootstrap and cached.

A kind is a Debian suite as debootstrap makes it, or a variant of one (``trixie-sudo-rs``:
trixie whose ``sudo`` is sudo-rs). The default lab uses ``bookworm`` and ``trixie``; the others
are built the first time a host of theirs is asked for.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
# sudo-rs as Debian 13 packages it: /usr/bin/sudo-rs, no `sudo` of its own. Like Ubuntu 25.10,
# the host keeps the sudo package (its /etc/sudoers and PAM service, which sudo-rs reads) and
# `sudo` becomes sudo-rs: sudo's binary is diverted aside (dpkg-divert, so upgrades of sudo
# keep it there) and /usr/bin/sudo links to sudo-rs.
SUDO_RS = (
    (
        "dpkg-divert",
        "--local",
        "--rename",
        "--divert",
        "/usr/bin/sudo.ws",
        "--add",
        "/usr/bin/sudo",
    ),
    ("ln", "-s", "/usr/lib/cargo/bin/sudo", "/usr/bin/sudo"),
)
# Debian testing's Release file is valid for a week (``Valid-Until``); the Debian archive the
# lab may reach can be a copy older than that, which apt refuses. The forky host's apt does not
# check the date (apt's ``Acquire::Check-Valid-Until``); signatures are checked as ever.
FORKY = (
    (
        "sh",
        "-c",
        "echo 'Acquire::Check-Valid-Until \"false\";' > /etc/apt/apt.conf.d/90provision-lab",
    ),
)


@dataclass(frozen=True)
class Kind:
    """A base root filesystem: ``suite`` debootstrapped with ``packages``, then ``setup`` run
    in it (each a command run with chroot). ``script`` is debootstrap's script for a suite it
    does not know by name yet (Debian testing is made like sid)."""

    name: str
    suite: str
    packages: tuple[str, ...] = PACKAGES
    script: str = ""
    setup: tuple[tuple[str, ...], ...] = ()


KINDS = {
    kind.name: kind
    for kind in (
        Kind("bookworm", "bookworm"),
        Kind("trixie", "trixie"),
        Kind("forky", "forky", script="sid", setup=FORKY),
        Kind("trixie-sudo-rs", "trixie", (*PACKAGES, "sudo-rs"), setup=SUDO_RS),
    )
}


def kind(name: str) -> Kind:
    """The kind named ``name``; a suite's own name is its plain kind."""
    try:
        return KINDS[name]
    except KeyError:
        raise LabError(f"no lab base named {name!r} (bases: {', '.join(KINDS)}).") from None


def recipe(name: str, mirror: str) -> str:
    """A digest of everything the base depends on: a change rebuilds it."""
    base = kind(name)
    text = (
        f"debootstrap --variant=minbase --include={','.join(base.packages)} {base.suite} {mirror}"
    )
    text += f" {base.script}" if base.script else ""
    text += "".join(f" && chroot {shlex.join(command)}" for command in base.setup)
    return hashlib.sha256(text.encode()).hexdigest()


def base_path(config: LabConfig, name: str) -> Path:
    return config.cache_dir / "base" / name


def is_cached(config: LabConfig, name: str) -> bool:
    marker = base_path(config, name) / MARKER
    return marker.exists() and marker.read_text().strip() == recipe(name, config.mirror)


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


def build(config: LabConfig, name: str, board=SILENT) -> Path:
    """Debootstrap the base ``name`` into the cache (atomically) unless it is there already."""
    target = base_path(config, name)
    if is_cached(config, name):
        return target
    task = f"{name} base"
    board.set(task, "debootstrap from the Debian archive (a minute or two)")
    try:
        return _debootstrap(config, kind(name), target, lambda text: board.set(task, text))
    finally:
        board.done(task)


def _debootstrap(config: LabConfig, base: Kind, target: Path, say) -> Path:
    check_archive(config.mirror, base.suite)
    scratch = target.with_name(f"{base.name}.building")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(base.packages)}",
        base.suite,
        str(scratch),
        config.mirror,
        *([f"/usr/share/debootstrap/scripts/{base.script}"] if base.script else []),
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
        raise LabError(f"debootstrap of {base.name} failed: {' / '.join(tail)}")
    for command in base.setup:
        done = subprocess.run(["chroot", str(scratch), *command], capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise LabError(f"{shlex.join(command)} in the {base.name} base failed: {done.stderr}")
    (scratch / MARKER).write_text(recipe(base.name, config.mirror) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    return target


def build_all(config: LabConfig, names: set[str], board=SILENT) -> dict[str, Path]:
    """Build several bases in parallel."""
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        built = pool.map(lambda name: build(config, name, board), names)
        return dict(zip(names, built, strict=True))
