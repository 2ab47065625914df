"""pytest plugin: ``--inventory FILE`` (and ``--limit``) runs the checks on an inventory's hosts.

``pytest --inventory inventories/prod.py --pyargs provision.verify.test_docker`` loads the
pyinfra inventory, reaches each selected host the way pyinfra would (user, key, port,
known_hosts, the user's own ``ssh_config_file``) and checks it against its own settings, as
``provision verify`` does. Without ``--inventory``, testinfra's ``--hosts`` and
``--ssh-config`` work as usual and the checks expect Docker's defaults.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("provision", "provision: Docker host checks")
    group.addoption(
        "--inventory",
        metavar="FILE",
        help="pyinfra inventory: check its hosts, each with its own settings and connection.",
    )
    group.addoption(
        "--limit",
        action="append",
        default=[],
        metavar="HOST_OR_GROUP",
        help="with --inventory: only these hosts or groups (repeatable, globs allowed).",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("inventory", None)
    if not path:
        if config.getoption("limit", None):
            raise pytest.UsageError("--limit needs --inventory FILE.")
        return
    if config.option.hosts or config.option.ssh_config:
        raise pytest.UsageError(
            "--inventory names the hosts and how to reach them; drop --hosts and --ssh-config."
        )
    from provision.core.errors import SettingsError, UsageError
    from provision.orchestrate.inventory import load
    from provision.profiles import choose
    from provision.verify.run import SETTINGS_FILE, write_session

    from .settings import ENV

    try:
        fleet = load(path, config.getoption("limit"))
        fleet.settings(choose(fleet.hosts, None).checks)
    except (UsageError, SettingsError) as error:
        raise pytest.UsageError(str(error)) from None
    work = Path(tempfile.mkdtemp(prefix="provision-pytest-"))
    ssh_config = write_session(fleet.hosts, work)
    config.option.hosts = ",".join(f"ssh://{host.name}" for host in fleet.hosts)
    config.option.ssh_config = str(ssh_config)
    config.stash[_SESSION] = {
        "work": work,
        "names": [host.name for host in fleet.hosts],
        "env": os.environ.get(ENV),
    }
    os.environ[ENV] = str(work / SETTINGS_FILE)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is None:
        return
    from provision.verify.run import close_connections

    from .settings import ENV

    close_connections(session["names"], session["work"] / "ssh_config")
    shutil.rmtree(session["work"], ignore_errors=True)
    if session["env"] is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = session["env"]
