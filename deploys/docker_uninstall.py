"""Uninstall Docker Engine: ``pyinfra INVENTORY deploys/docker_uninstall.py``.

Data in /var/lib/docker and /var/lib/containerd is removed only with ``docker_purge_data``.
"""

from provision.docker.deploy import uninstall_docker

uninstall_docker()
