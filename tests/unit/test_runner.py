"""The CI runner profile: its settings, its prune job (run here against stand-ins for docker and
df), its operations, and the whole profile on pyinfra's ``@fake`` connector."""

from __future__ import annotations

import subprocess

import pytest

from provision.docker.errors import SettingsError
from provision.runner import prune
from provision.runner.deploy import Account, Builder, buildx_builder, runner_user
from provision.runner.settings import RunnerSettings, runner_settings

from .fakes import FakeMachine


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


class RunnerMachine(FakeMachine):
    """A host whose accounts and buildx builders are described directly."""

    accounts: dict = {}
    builders: dict = {}

    def fact(self, cls, *args, **kwargs):
        if cls is Account:
            self.calls.append(("Account", kwargs))
            return self.accounts.get(kwargs["user"])
        if cls is Builder:
            self.calls.append(("Builder", kwargs))
            return self.builders.get((kwargs["user"], kwargs["builder"]))
        return super().fact(cls, *args, **kwargs)


def test_the_runner_user_is_created_with_a_home_and_a_shell(run_op):
    machine = RunnerMachine()
    assert run_op(runner_user, machine, user="runner").commands == [
        "useradd --create-home --shell /bin/bash runner"
    ]
    machine.accounts = {"runner": (1001, "/home/runner", "/bin/bash")}
    assert run_op(runner_user, machine, user="runner").commands == []


def test_a_runner_user_with_uid_0_is_refused(run_op):
    machine = RunnerMachine()
    machine.accounts = {"ci": (0, "/root", "/bin/bash")}
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
    machine = RunnerMachine()
    machine.builders = {("runner", "ci"): driver}
    run = run_op(buildx_builder, machine, user="runner", builder="ci")
    assert run.commands == ([f"runuser -l runner -c '{command}'"] if command else [])


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
