"""The CI runner profile's checks, run with the Docker checks by
``provision verify --profile ci-runner``: the runner user, its Docker, pruning and buildx."""

from __future__ import annotations

import shlex

import pytest

from provision.docker import systemd
from provision.profiles.ci_runner import prune
from provision.profiles.ci_runner.settings import runner_settings
from provision.profiles.ci_runner.shell import as_runner
from provision.verify import probe
from provision.verify.settings import host_data, parallel, settings_for


def commands(name: str) -> dict[str, str]:
    """What the checks read of host ``name``, in one ``sudo`` command."""
    settings, runner = settings_for(name), runner_settings(host_data(name), name)
    user, quoted = runner.ci_runner_user, shlex.quote(runner.ci_runner_user)
    rootless = runner.ci_runner_rootless
    # as the runner: a rootless runner's own daemon loads the image itself
    run = probe.load_command(settings) + probe.run_command(settings)
    builder = f"docker buildx inspect {shlex.quote(runner.ci_runner_builder)}"
    return {
        "account": f"getent passwd {quoted}",
        "groups": f"id -Gn {quoted}",
        "docker_run": as_runner(user, run, rootless),
        "builder": as_runner(user, builder, rootless),
        "script": f"cat {prune.SCRIPT}",
        **{f"unit:{path}": f"cat {path}" for path in prune.unit_files(runner)},
        "timers": systemd.show_command(prune.TIMERS),
    }


@pytest.fixture(scope="module")
def runner(host):
    name = host.backend.get_hostname()
    return runner_settings(host_data(name), name)


@pytest.fixture(scope="session")
def runner_probes(request):
    """Every host of the session read at once for the runner checks, on first use."""
    return probe.probe_all(probe.session_hosts(request.session), commands, parallel())


@pytest.fixture(scope="module")
def seen(host, runner_probes):
    """This host's sections; a host that could not be read fails each check with why."""
    name = host.backend.get_hostname()
    sections = runner_probes.get(name) or probe.read(host, commands(name))
    if isinstance(sections, probe.ProbeError):
        raise sections
    return sections


def test_runner_user_is_not_root(seen, runner):
    account = seen["account"]
    assert account.ok, f"user {runner.ci_runner_user} is missing"
    fields = account.text.strip().split(":")
    assert fields[2] != "0", f"{runner.ci_runner_user} has uid 0"
    assert fields[6] not in ("/usr/sbin/nologin", "/bin/false"), "the runner user has no shell"


def test_runner_runs_containers_without_sudo(seen, runner):
    in_group = "docker" in seen["groups"].text.split()
    if runner.ci_runner_rootless:
        assert not in_group, f"{runner.ci_runner_user} is rootless but in the docker group"
    else:
        assert in_group, f"{runner.ci_runner_user} is not in the docker group"
    run = seen["docker_run"]
    assert run.ok, f"docker run as {runner.ci_runner_user} failed: {run.text.strip()[-300:]}"


def test_buildx_builder(seen, runner):
    builder = seen["builder"]
    assert builder.ok, f"no buildx builder {runner.ci_runner_builder}: {builder.text[-200:]}"
    drivers = [
        line.split(":", 1)[1].strip()
        for line in builder.text.splitlines()
        if line.startswith("Driver:")
    ]
    assert drivers[:1] == ["docker-container"], f"the builder's driver is {drivers or 'unknown'}"


def test_prune_job_as_written(seen, runner):
    assert seen["script"].text == prune.script(runner), f"{prune.SCRIPT} differs"
    for path, content in prune.unit_files(runner).items():
        assert seen[f"unit:{path}"].text == content, f"{path} differs"


@pytest.mark.parametrize("timer", prune.TIMERS)
def test_prune_timer(seen, timer):
    states = systemd.by_name(systemd.parse_show(seen["timers"].text.splitlines()), [timer])
    active, unit_file = states[timer]
    assert unit_file == "enabled", f"{timer} is not enabled"
    assert active == "active", f"{timer} is not active"
