"""A CI runner host: ``pyinfra INVENTORY deploys/ci_runner.py``."""

from provision.runner.deploy import install_ci_runner

install_ci_runner()
