"""A CI runner host: ``pyinfra INVENTORY deploys/ci_runner.py``."""

from provision.profiles.ci_runner.deploy import install_ci_runner

install_ci_runner()
