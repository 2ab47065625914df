"""Commands run as the CI runner user (no pyinfra needed: the verification uses them too)."""

from __future__ import annotations

import shlex

from provision.docker.rootless_layout import as_user, docker_host


def as_runner(user: str, command: str, rootless: bool = False) -> str:
    """``command`` as ``user`` in a clean environment (see ``as_user``), with the user's own
    buildx builders, and the user's rootless daemon if ``rootless``.

    buildx keeps its builders in the user's ``~/.docker/buildx`` (``BUILDX_CONFIG``), where the
    user's own ``docker`` finds them; nothing else of ``~/.docker`` is read.
    """
    quoted = shlex.quote(user)
    uid = f'"$(id -u {quoted})"'
    env = [f'BUILDX_CONFIG="$(getent passwd {quoted} | cut -d: -f6)/.docker/buildx"']
    if rootless:
        env.append(f"DOCKER_HOST={docker_host(uid)}")
    return as_user(user, uid, command, env)
