"""Install Docker Engine: ``pyinfra INVENTORY deploys/docker.py``."""

from provision.docker.deploy import install_docker

install_docker()
