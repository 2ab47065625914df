"""Kernel limits that many lab hosts on one machine run into.

Each host's systemd, journald and logind take inotify instances from root's share
(``fs.inotify.max_user_instances``, 128 by default): with a few dozen hosts, systemd in a new host
fails with "Failed to create control group inotify object: Too many open files" and the host
stops while booting. The limits are raised, never lowered, and left raised (other programs may
have come to count on them), as kind and similar tools ask for.
"""

from __future__ import annotations

from pathlib import Path

SYSCTL = Path("/proc/sys/fs/inotify")
MINIMUM = {"max_user_instances": 1024, "max_user_watches": 524288}


def raise_inotify_limits(root: Path = SYSCTL) -> dict[str, int]:
    """Raise the inotify limits to ``MINIMUM`` where they are lower; the values now in force."""
    values = {}
    for name, minimum in MINIMUM.items():
        path = root / name
        current = int(path.read_text())
        if current < minimum:
            path.write_text(f"{minimum}\n")
            current = minimum
        values[name] = current
    return values
