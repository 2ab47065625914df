"""The prune job of a CI runner host: a script, its service and two timers (no pyinfra needed).

The scheduled run prunes stopped containers, dangling images and build cache older than
``ci_runner_prune_until``, and unused anonymous volumes. The low-space run, every five minutes,
prunes the same without the age limit, and only when the Docker data root has less than
``ci_runner_min_free_gb`` free.
"""

from __future__ import annotations

import shlex

from .settings import RunnerSettings

SCRIPT = "/usr/local/sbin/provision-docker-prune"
SERVICE = "provision-docker-prune@.service"
TIMER = "provision-docker-prune.timer"
LOW_SPACE_TIMER = "provision-docker-prune-low-space.timer"
UNIT_DIR = "/etc/systemd/system"
TIMERS = (TIMER, LOW_SPACE_TIMER)


def script(settings: RunnerSettings) -> str:
    """The prune script; its one argument is ``scheduled`` or ``low-space``."""
    until = shlex.quote(f"until={settings.ci_runner_prune_until}")
    min_free_kb = settings.ci_runner_min_free_gb * 1024 * 1024
    return f"""#!/bin/sh
# Written by provision (CI runner profile): prune what CI jobs leave behind.
set -eu
root=$(docker info --format '{{{{.DockerRootDir}}}}')
free_kb=$(df -Pk "$root" | awk 'NR == 2 {{ print $4 }}')
if [ "$free_kb" -lt {min_free_kb} ]; then
    echo "$root has $free_kb KiB free, less than {min_free_kb}: pruning everything unused"
    filter=""
elif [ "${{1:-scheduled}}" = scheduled ]; then
    filter="--filter {until}"
else
    exit 0
fi
docker container prune --force $filter
docker image prune --force $filter
docker volume prune --force
docker builder prune --force $filter
"""


def service() -> str:
    """The template service the timers start (``%i``: scheduled or low-space)."""
    return (
        "[Unit]\n"
        "Description=Prune unused Docker data (%i)\n"
        "Requires=docker.service\n"
        "After=docker.service\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={SCRIPT} %i\n"
    )


def timer(settings: RunnerSettings) -> str:
    """The scheduled prune, on ``ci_runner_prune_schedule``."""
    return (
        "[Unit]\n"
        "Description=Prune unused Docker data on schedule\n\n"
        "[Timer]\n"
        f"OnCalendar={settings.ci_runner_prune_schedule}\n"
        "Persistent=true\n"
        "Unit=provision-docker-prune@scheduled.service\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def low_space_timer() -> str:
    """The check for free space, every five minutes."""
    return (
        "[Unit]\n"
        "Description=Prune unused Docker data when space runs low\n\n"
        "[Timer]\n"
        "OnBootSec=5min\n"
        "OnUnitActiveSec=5min\n"
        "Unit=provision-docker-prune@low-space.service\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def unit_files(settings: RunnerSettings) -> dict[str, str]:
    """``{path: content}`` of the systemd units."""
    return {
        f"{UNIT_DIR}/{SERVICE}": service(),
        f"{UNIT_DIR}/{TIMER}": timer(settings),
        f"{UNIT_DIR}/{LOW_SPACE_TIMER}": low_space_timer(),
    }
