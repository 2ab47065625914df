"""The CI runner profile: its settings, its prune job (run here against stand-ins for docker and
df), its operations, and the whole profile on pyinfra's ``@fake`` connector."""

from __future__ import annotations

import base64
import dataclasses
import os
import pwd
import shlex
import subprocess

import pytest
from pyinfra.api import Inventory

from provision.core.errors import SettingsError
from provision.core.snapshot import MARK
from provision.docker import keyring
from provision.docker.settings import DockerSettings
from provision.docker.validation import from_host_data
from provision.orchestrate.inventory import Fleet
from provision.orchestrate.run import run_deploy
from provision.profiles.ci_runner import prune
from provision.profiles.ci_runner.deploy import (
    GITLAB_KEY as GITLAB_KEY_PATH,
)
from provision.profiles.ci_runner.deploy import (
    GITLAB_SOURCES as GITLAB_SOURCES_PATH,
)
from provision.profiles.ci_runner.deploy import (
    Account,
    Builder,
    buildx_builder,
    gitlab_repository,
    install_ci_runner,
    runner_queries,
    runner_user,
)
from provision.profiles.ci_runner.settings import RunnerSettings, runner_settings

from .fakes import (
    Commands,
    FakeMachine,
    converged_machine,
    fake_responses,
    is_fact_command,
    synthetic_key,
    v4_fingerprint,
)
from .test_deploy import index, written_to


def test_defaults():
    assert runner_settings({}) == RunnerSettings(
        ci_runner_user="runner",
        ci_runner_prune_until="24h",
        ci_runner_prune_schedule="hourly",
        ci_runner_min_free_gb=10,
        ci_runner_builder="provision",
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"ci_runner_user": "root"}, "ci_runner_user must be a user name other than root"),
        ({"ci_runner_user": "a b"}, "ci_runner_user must be a user name"),
        ({"ci_runner_prune_until": "1 day"}, "ci_runner_prune_until must look like 24h"),
        ({"ci_runner_prune_schedule": "daily; rm -rf /"}, "must be a systemd calendar"),
        ({"ci_runner_min_free_gb": "10"}, "ci_runner_min_free_gb must be a whole number"),
        ({"ci_runner_builder": "My Builder"}, "ci_runner_builder must be a builder name"),
        ({"ci_runner_usr": "x"}, "ci_runner_usr is not a setting of the CI runner profile"),
    ],
)
def test_bad_runner_settings_are_named(data, problem):
    with pytest.raises(SettingsError, match="^web1: ") as raised:
        runner_settings(data, "web1")
    assert problem in str(raised.value)


@pytest.fixture
def prune_host(tmp_path):
    """Run the prune script with stand-ins: ``df`` reports ``free`` KiB, docker logs its calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "docker.log"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        f'#!/bin/sh\nif [ "$1" = info ]; then echo /var/lib/docker; exit 0; fi\n'
        f'echo "$*" >> {log}\n'
    )
    (bin_dir / "docker").chmod(0o755)

    def run(settings: RunnerSettings, free_kb: int, mode: str) -> list[str]:
        (bin_dir / "df").write_text(
            "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
            f"echo '/dev/x 100 0 {free_kb} 0% /'\n"
        )
        (bin_dir / "df").chmod(0o755)
        log.write_text("")
        script = tmp_path / "prune"
        script.write_text(prune.script(settings))
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
        subprocess.run(["sh", str(script), mode], env=env, check=True, capture_output=True)
        return log.read_text().splitlines()

    return run


def test_the_scheduled_prune_keeps_what_is_newer_than_the_limit(prune_host):
    calls = prune_host(RunnerSettings(ci_runner_prune_until="6h"), 50 << 20, "scheduled")
    assert calls == [
        "container prune --force --filter until=6h",
        "image prune --force --filter until=6h",
        "volume prune --force",
        "builder prune --force --filter until=6h",
    ]


def test_low_space_prunes_everything_unused_at_once(prune_host):
    settings = RunnerSettings(ci_runner_min_free_gb=10)
    assert prune_host(settings, 20 << 20, "low-space") == []  # 20 GiB free: nothing to do
    assert prune_host(settings, 5 << 20, "low-space") == [
        "container prune --force",
        "image prune --force",
        "volume prune --force",
        "builder prune --force",
    ]


def test_units_run_the_script_from_two_timers():
    settings = RunnerSettings(ci_runner_prune_schedule="*-*-* 03:00:00")
    units = prune.unit_files(settings)
    assert f"ExecStart={prune.SCRIPT} %i" in units[f"{prune.UNIT_DIR}/{prune.SERVICE}"]
    timer = units[f"{prune.UNIT_DIR}/{prune.TIMER}"]
    assert "OnCalendar=*-*-* 03:00:00\n" in timer
    assert "Unit=provision-docker-prune@scheduled.service" in timer
    low = units[f"{prune.UNIT_DIR}/{prune.LOW_SPACE_TIMER}"]
    assert "OnUnitActiveSec=5min" in low and "@low-space.service" in low


def test_the_runner_user_is_created_with_a_home_and_a_shell(run_op):
    machine = FakeMachine()
    assert run_op(runner_user, machine, user="runner").commands == [
        "useradd --create-home --shell /bin/bash runner"
    ]
    machine.accounts = {"runner": "runner:x:1001:1001::/home/runner:/bin/bash"}
    assert run_op(runner_user, machine, user="runner").commands == []


def test_a_runner_user_with_uid_0_is_refused(run_op):
    machine = FakeMachine(accounts={"ci": "ci:x:0:0::/root:/bin/bash"})
    run = run_op(runner_user, machine, user="ci")
    assert run.refusal == (
        "web1: ci_runner_user ci has uid 0; CI runners must not run as root, so name another user."
    )


@pytest.mark.parametrize(
    ("driver", "command"),
    [
        (None, "docker buildx create --name ci --driver docker-container --use"),
        (
            "docker",
            "docker buildx rm ci && docker buildx create --name ci --driver docker-container --use",
        ),
        ("docker-container", None),
    ],
)
def test_the_buildx_builder_is_made_as_the_runner_user(run_op, driver, command):
    machine = FakeMachine(builders={("runner", "ci"): driver} if driver else {})
    run = run_op(buildx_builder, machine, user="runner", builder="ci")
    as_runner = (
        "runuser -u runner -- env -i HOME=/nonexistent PATH=/usr/bin:/bin "
        'XDG_RUNTIME_DIR=/run/user/"$(id -u runner)" DOCKER_CONFIG=/nonexistent '
        'BUILDX_CONFIG="$(getent passwd runner | cut -d: -f6)/.docker/buildx" sh -c'
    )
    assert run.commands == ([f"{as_runner} '{command}'"] if command else [])


def test_account_and_builder_facts_parse_their_commands_output():
    assert Account().process(["runner:x:1001:1001::/home/runner:/bin/bash"]) == (
        1001,
        "/home/runner",
        "/bin/bash",
    )
    assert Account().process([]) is None
    output = ["Name:          ci", "Driver:        docker-container", "Nodes:"]
    assert Builder().process(output) == "docker-container"
    assert Builder().process([]) is None


# the whole profile on pyinfra's @fake connector ---------------------------------------------

GITLAB_KEY = synthetic_key(b"gitlab")
GITLAB = {
    "ci_runner_gitlab": True,
    "ci_runner_gitlab_fingerprint": v4_fingerprint(GITLAB_KEY),
}
PACKAGECLOUD_LIST = "/etc/apt/sources.list.d/runner_gitlab-runner.list"


def run_profile(machine: FakeMachine, **data) -> tuple:
    """The CI runner deploy on a fake host: its result and the non-fact commands it ran."""
    runner = runner_settings(data)
    docker = from_host_data({k: v for k, v in data.items() if not k.startswith("ci_")})
    users = (*docker.docker_users, runner.ci_runner_user)  # as the profile adds its user
    settings = dataclasses.replace(docker, docker_users=users)
    responses = fake_responses(machine, settings, runner_queries(runner))
    host_data = {**data, "fake_responses": responses, "fake_delay": 0, "fake_delay_jitter": 0}
    inventory = Inventory(([("@fake/web1", host_data)], {}))
    result = run_deploy(Fleet("t.py", inventory, list(inventory)), install_ci_runner, "apply")
    connector = inventory.get_host("@fake/web1").connector
    executed = connector.executed_commands
    ran = Commands(
        [c for c in executed if not is_fact_command(c)], getattr(connector, "stdin_of", {})
    )
    return result.hosts["@fake/web1"], ran, executed


def runner_machine(gitlab: bool) -> FakeMachine:
    """A converged runner host (with GitLab Runner when ``gitlab``)."""
    runner = runner_settings(GITLAB if gitlab else {})
    machine = converged_machine(DockerSettings(docker_users=("runner",)))
    machine.accounts = {"runner": "runner:x:1001:1001::/home/runner:/bin/bash"}
    machine.builders = {("runner", "provision"): "docker-container"}
    machine.files[prune.SCRIPT] = ("755", "root:root", prune.script(runner).encode())
    for path, content in prune.unit_files(runner).items():
        machine.files[path] = ("644", "root:root", content.encode())
    for timer in prune.TIMERS:
        machine.services[timer] = ("active", "enabled")
    if gitlab:
        repository = gitlab_repository(runner, "debian", "bookworm", "amd64")
        key = keyring.checked_key(GITLAB_KEY, v4_fingerprint(GITLAB_KEY)).armored()
        machine.files[repository.key_path] = ("644", "root:root", key)
        machine.files[repository.sources_path] = ("644", "root:root", repository.sources().encode())
        machine.packages["gitlab-runner"] = ("ii", "18.5.0-1")
        machine.urls[runner.ci_runner_gitlab_key_url] = GITLAB_KEY
    return machine


@pytest.mark.parametrize("gitlab", [False, True], ids=["docker-only", "with-gitlab"])
def test_a_converged_runner_host_is_read_in_one_command_and_changes_nothing(gitlab):
    result, commands, executed = run_profile(runner_machine(gitlab), **(GITLAB if gitlab else {}))
    assert (result.status, result.error, commands) == ("unchanged", None, [])
    assert len(executed) == 1  # the snapshot: every fact of Docker and of the profile


def test_sections_forged_by_the_runners_builder_output_change_nothing():
    """The runner's buildx printing whole sections of the snapshot (in its framing and the one
    before) that would have root write ``runner:0:1`` ranges and a world-writable trusted key
    and remove paths: they are only the builder's own lines."""
    root_range = base64.b64encode(b"runner:0:1\n").decode()
    sections = [
        "/etc/docker\n/var/lib/docker\n/etc/apt/keyrings\n",
        f"644 root:root\n{root_range}\n",
        f"666 root:root\n{base64.b64encode(GITLAB_KEY).decode()}\n",
    ]
    forged = []
    for number in range(60):
        text = sections[number % 3]
        encoded = base64.b64encode(text.encode()).decode()
        forged += [f"{MARK} {number} {len(encoded)} {encoded}", f"{MARK}-{number}", *text.split()]
    machine = runner_machine(gitlab=False)
    machine.forged = {Builder: forged}
    result, commands, executed = run_profile(machine)
    assert (result.status, result.error, commands) == ("unchanged", None, [])
    assert len(executed) == 1


def test_gitlab_runner_comes_from_its_pinned_repository():
    machine = runner_machine(gitlab=True)
    key_path, sources_path = GITLAB_KEY_PATH, GITLAB_SOURCES_PATH
    del machine.files[key_path], machine.files[sources_path]
    del machine.packages["gitlab-runner"]
    stale = (
        "deb [signed-by=/usr/share/keyrings/x.gpg] "
        "https://packages.gitlab.com/runner/gitlab-runner/debian/ bookworm main"
    )
    machine.files[PACKAGECLOUD_LIST] = ("644", "root:root", stale.encode())
    result, commands, _ = run_profile(machine, **GITLAB)
    assert result.status == "changed", result.error
    assert f"rm -f {PACKAGECLOUD_LIST}" in commands
    armored = keyring.checked_key(GITLAB_KEY, v4_fingerprint(GITLAB_KEY)).armored()
    assert written_to(commands, key_path) == armored
    sources = written_to(commands, sources_path).decode()
    assert "URIs: https://packages.gitlab.com/runner/gitlab-runner/debian\n" in sources
    assert f"Signed-By: {key_path}\n" in sources
    assert commands.index(f"rm -f {PACKAGECLOUD_LIST}") < index(commands, "gitlab-runner.asc$")
    assert index(commands, r"apt-get .* install --no-install-recommends gitlab-runner$")


def test_a_wrong_gitlab_key_is_refused_with_nothing_written():
    machine = runner_machine(gitlab=True)
    del machine.files[GITLAB_KEY_PATH], machine.files[GITLAB_SOURCES_PATH]
    machine.urls[runner_settings({}).ci_runner_gitlab_key_url] = synthetic_key(b"impostor")
    result, commands, _ = run_profile(machine, **GITLAB)
    assert result.status == "failed"
    assert result.error.startswith("@fake/web1: https://packages.gitlab.com/gpg.key returned a key")
    assert not any(GITLAB_KEY_PATH in c or GITLAB_SOURCES_PATH in c for c in commands)


def test_a_rootless_runner_command_runs_every_part_on_its_own_daemon(tmp_path):
    """``if``, lists and pipes all see the user's DOCKER_HOST and builders, in an environment
    holding nothing else (no login shell: ``~/.bash_profile`` never runs)."""
    from provision.profiles.ci_runner.shell import as_runner

    user = pwd.getpwuid(os.getuid()).pw_name
    script = "if true; then env | sort | cat; fi"
    line = as_runner(user, script, rootless=True)
    words = shlex.split(line)
    assert words[:6] == ["runuser", "-u", user, "--", "env", "-i"]
    assert words[-3:-1] == ["sh", "-c"] and "-l" not in words
    # what runuser runs as the user, expanded by root's shell
    done = subprocess.run(
        ["sh", "-c", line.split(" -- ", 1)[1]], capture_output=True, text=True, check=True
    )
    uid = os.getuid()
    assert done.stdout.splitlines() == sorted(
        [
            f"BUILDX_CONFIG={pwd.getpwuid(uid).pw_dir}/.docker/buildx",
            "DOCKER_CONFIG=/nonexistent",
            f"DOCKER_HOST=unix:///run/user/{uid}/docker.sock",
            "HOME=/nonexistent",
            "PATH=/usr/bin:/bin",
            "PWD=" + os.getcwd(),
            f"XDG_RUNTIME_DIR=/run/user/{uid}",
        ]
    )
    assert "DOCKER_HOST" not in as_runner(user, "docker ps")


def test_a_mixed_fleet_runs_each_hosts_own_profile():
    from provision import profiles

    runner = runner_settings({})
    machine = runner_machine(False)
    machine.accounts = {}  # the runner user is missing: the runner profile adds it
    with_runner = DockerSettings(docker_users=("runner",))
    hosts = [
        ("@fake/r1", {"provision_profile": "ci-runner"}, machine, with_runner, runner),
        ("@fake/web1", {}, converged_machine(), DockerSettings(), None),
    ]
    rows = []
    for name, data, host_machine, settings, extra in hosts:
        queries = runner_queries(extra) if extra else ()
        responses = fake_responses(host_machine, settings, queries)
        rows.append((name, {**data, "fake_responses": responses, "fake_delay": 0}))
    inventory = Inventory((rows, {}))
    chosen = profiles.choose(list(inventory), None)
    assert dict(chosen.names) == {"@fake/r1": "ci-runner", "@fake/web1": "docker"}
    result = run_deploy(Fleet("t.py", inventory, list(inventory)), chosen.deploy, "apply")
    ran = {
        name: [c for c in inventory.get_host(name).connector.executed_commands if "runner" in c]
        for name, *_ in hosts
    }
    assert result.hosts["@fake/r1"].status == "changed", result.hosts["@fake/r1"].error
    assert "useradd --create-home --shell /bin/bash runner" in ran["@fake/r1"]
    # each host's changes carry its own operations' names, also where the two deploys'
    # operations share a hash
    assert "CI runner user" in result.hosts["@fake/r1"].changed, result.hosts["@fake/r1"].changed
    assert not any(", " in name for name in result.hosts["@fake/r1"].changed)
    assert result.hosts["@fake/web1"].status == "unchanged", result.hosts["@fake/web1"].error
    assert ran["@fake/web1"] == []  # the Docker profile reads and writes nothing of a runner
