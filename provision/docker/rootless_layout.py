"""Where a user's rootless Docker lives on a host, and how to run a command as that user
(no pyinfra needed: the verification uses it too)."""

from __future__ import annotations

import shlex

SUBID_FILES = ("/etc/subuid", "/etc/subgid")
USER_UNIT = "/etc/systemd/user/docker.service"
# dockerd-rootless-setuptool.sh's unit, for the scripts of docker-ce-rootless-extras in /usr/bin
UNIT_TEXT = """\
[Unit]
Description=Docker Application Container Engine (Rootless)
Documentation=https://docs.docker.com/go/rootless/

[Service]
Environment=PATH=/usr/bin:/sbin:/usr/sbin:/bin
ExecStart=/usr/bin/dockerd-rootless.sh
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
Type=notify
NotifyAccess=all
KillMode=mixed

[Install]
WantedBy=default.target
"""


# Debian's home for users without one, which never exists (only root could create it): as
# ``HOME`` and ``DOCKER_CONFIG`` it holds no rc file, Docker CLI config or CLI plugin
NO_HOME = "/nonexistent"


def docker_host(uid: str) -> str:
    """``DOCKER_HOST`` of a user's rootless daemon; ``uid`` as for :func:`as_user`."""
    return f"unix:///run/user/{uid}/docker.sock"


def as_user(user: str, uid: str, script: str, env=()) -> str:
    """``script`` run by ``sh`` as ``user``, in a clean environment: no login shell, and nothing
    of the user's (profile, shell and curl rc files, Docker CLI config and plugins) runs.

    The environment holds a fixed ``PATH``, the user's runtime directory and ``env``
    (``NAME=value`` shell words). ``uid`` is a number or a shell expansion, never host data.
    """
    words = [
        f"HOME={NO_HOME}",
        "PATH=/usr/bin:/bin",
        f"XDG_RUNTIME_DIR=/run/user/{uid}",
        f"DOCKER_CONFIG={NO_HOME}",
        *env,
    ]
    return f"runuser -u {shlex.quote(user)} -- env -i {' '.join(words)} sh -c {shlex.quote(script)}"
