"""The CI runner profile's checks (``provision/verify/test_ci_runner.py``) on probe results of
converged and drifted hosts: each passes on what a converged host prints and fails, naming
what is wrong, on each drift."""

from __future__ import annotations

import pytest

from provision.profiles.ci_runner import prune
from provision.profiles.ci_runner.settings import RunnerSettings
from provision.verify import test_ci_runner as checks
from provision.verify.probe import Section

RUNNER = RunnerSettings()
ROOTLESS = RunnerSettings(ci_runner_rootless=True)


def ok(text: str) -> Section:
    return Section(0, text.encode())


def converged(runner: RunnerSettings = RUNNER) -> dict[str, Section]:
    """What a converged runner host prints for each section of the runner checks."""
    timers = "".join(
        f"Id={timer}\nActiveState=active\nUnitFileState=enabled\n\n" for timer in prune.TIMERS
    )
    return {
        "account": ok("runner:x:1001:1001::/home/runner:/bin/bash\n"),
        "groups": ok("runner\n" if runner.ci_runner_rootless else "runner docker\n"),
        "docker_run": ok("Hello from the lab\n"),
        "builder": ok("Name: provision\nDriver: docker-container\n"),
        "script": ok(prune.script(runner)),
        **{f"unit:{path}": ok(text) for path, text in prune.unit_files(runner).items()},
        "timers": ok(timers),
    }


def run_all(seen: dict, runner: RunnerSettings) -> None:
    checks.test_runner_user_is_not_root(seen, runner)
    checks.test_runner_runs_containers_without_sudo(seen, runner)
    checks.test_buildx_builder(seen, runner)
    checks.test_prune_job_as_written(seen, runner)
    for timer in prune.TIMERS:
        checks.test_prune_timer(seen, timer)


@pytest.mark.parametrize("runner", [RUNNER, ROOTLESS], ids=["system", "rootless"])
def test_a_converged_runner_host_passes_every_check(runner):
    run_all(converged(runner), runner)


DRIFTS = [
    ("account", ok("runner:x:0:0::/root:/bin/bash\n"), "runner has uid 0"),
    ("account", Section(2, b""), "user runner is missing"),
    ("account", ok("runner:x:1001:1001::/home/runner:/usr/sbin/nologin\n"), "has no shell"),
    ("groups", ok("runner\n"), "runner is not in the docker group"),
    ("docker_run", Section(125, b"permission denied\n"), "docker run as runner failed"),
    ("builder", Section(1, b"no builder\n"), "no buildx builder provision"),
    ("builder", ok("Name: provision\nDriver: docker\n"), "the builder's driver is ['docker']"),
    ("script", ok("#!/bin/sh\n"), f"{prune.SCRIPT} differs"),
    ("timers", ok(""), "is not enabled"),
]


@pytest.mark.parametrize(("section", "printed", "said"), DRIFTS)
def test_each_drift_fails_a_check_that_says_what_is_wrong(section, printed, said):
    seen = {**converged(), section: printed}
    with pytest.raises(AssertionError) as failed:
        run_all(seen, RUNNER)
    assert said in str(failed.value)


def test_a_rootless_runner_in_the_docker_group_fails():
    seen = {**converged(ROOTLESS), "groups": ok("runner docker\n")}
    with pytest.raises(AssertionError, match="is rootless but in the docker group"):
        checks.test_runner_runs_containers_without_sudo(seen, ROOTLESS)
