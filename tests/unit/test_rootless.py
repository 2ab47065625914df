"""Rootless Docker: subordinate ids, the users' services, settings and the one-command read."""

from __future__ import annotations

import base64
import re

import pytest

from provision.core.errors import SettingsError
from provision.docker import rootless
from provision.docker.deploy import uninstall_docker
from provision.docker.rootless_layout import UNIT_TEXT, USER_UNIT
from provision.docker.validation import from_host_data
from provision.verify import probe

from .fakes import converged_machine, fresh_machine
from .test_deploy import run_one, written_to

ALICE = {"docker_rootless_users": ["alice"]}
# the clean environment of every command run as a user (``as_user``)
CLEAN = (
    "HOME=/nonexistent PATH=/usr/bin:/bin XDG_RUNTIME_DIR=/run/user/{uid} "
    "DOCKER_CONFIG=/nonexistent"
)

# subordinate ids ----------------------------------------------------------------------------


def test_a_user_without_ranges_gets_one_after_the_last():
    text = "admin:100000:65536\nbob:165536:65536\n"
    assert rootless.with_subids(text, {"alice": 1001}) == text + "alice:231072:65536\n"


def test_an_empty_file_starts_at_useradds_minimum():
    assert rootless.with_subids("", {"alice": 1001, "bob": 1002}) == (
        "alice:100000:65536\nbob:165536:65536\n"
    )


@pytest.mark.parametrize("owner", ["alice", "1001"])
def test_a_large_enough_range_by_name_or_uid_is_kept(owner):
    text = f"# comment\n{owner}:300000:70000"  # no final newline, left as it is
    assert rootless.with_subids(text, {"alice": 1001}) == text


def test_a_too_small_range_gets_a_full_one_beside_it():
    text = "alice:100000:1000\n"
    assert rootless.with_subids(text, {"alice": 1001}) == text + "alice:101000:65536\n"


def test_a_file_without_final_newline_gets_one_before_the_new_line():
    assert rootless.with_subids("x:1:2", {"alice": 1}) == "x:1:2\nalice:100000:65536\n"


def test_subordinate_ids_are_written_with_the_files_mode(run_op):
    machine = fresh_machine()
    machine.files["/etc/subuid"] = ("600", "root:root", b"admin:100000:65536\n")
    run = run_op(rootless.subordinate_ids, machine, users=["alice"])
    assert written_to(run.commands, "/etc/subuid") == b"admin:100000:65536\nalice:165536:65536\n"
    assert written_to(run.commands, "/etc/subgid") == b"alice:100000:65536\n"
    subuid = next(c for c in run.commands if c.endswith("/etc/subuid"))
    assert "chmod 0600 " in subuid and "chmod 0644 " in run.commands[-1]
    assert not any(re.search(r"\bsed\b", c) for c in run.commands)


def test_subordinate_ids_in_place_are_a_noop(run_op):
    machine = converged_machine(from_host_data(ALICE))
    run = run_op(rootless.subordinate_ids, machine, users=["alice"])
    assert run.commands == [] and len(run.noops) == 2


def test_a_missing_user_is_refused_naming_the_setting(run_op):
    run = run_op(rootless.subordinate_ids, fresh_machine(), users=["alice", "mallory"])
    assert run.refusal == (
        "web1: docker_rootless_users names mallory, but no such user exists on the host; "
        "create the user first or remove it."
    )
    assert len(run.commands) == 1  # the refusal, nothing written


# the users' services ------------------------------------------------------------------------


def test_a_new_user_lingers_and_starts_docker_as_the_user(run_op):
    run = run_op(rootless.user_services, fresh_machine(), users=["alice"])
    as_alice = f"runuser -u alice -- env -i {CLEAN.format(uid=1000)} sh -c 'systemctl --user"
    assert run.commands == [
        "loginctl enable-linger alice",
        "systemctl start user@1000.service",
        f"{as_alice} daemon-reload'",
        f"{as_alice} enable docker.service'",
        f"{as_alice} start docker.service'",
    ]


def test_a_running_enabled_service_is_a_noop(run_op):
    machine = converged_machine(from_host_data(ALICE))
    run = run_op(rootless.user_services, machine, users=["alice"])
    assert run.commands == [] and run.noops == ["alice's rootless Docker is running and enabled"]


def test_a_stopped_service_is_started_without_lingering_again(run_op):
    machine = converged_machine(from_host_data(ALICE))
    machine.rootless["alice"] = (1001, True, "failed", "enabled")
    run = run_op(rootless.user_services, machine, users=["alice"])
    assert run.commands[0] == "systemctl start user@1001.service"
    assert run.commands[-1].endswith("systemctl --user start docker.service'")
    assert not any("enable" in c for c in run.commands)


def test_uninstall_stops_and_disables_each_users_daemon_first(run_op):
    machine = converged_machine(from_host_data({"docker_rootless_users": ["alice", "bob"]}))
    machine.rootless["bob"] = (1001, True, "inactive", "disabled")  # bob's is off already
    run = run_op(rootless.user_services_absent, machine, users=["alice", "bob"])
    uid = machine.rootless["alice"][0]
    as_alice = f"runuser -u alice -- env -i {CLEAN.format(uid=uid)} sh -c 'systemctl --user"
    assert run.commands == [f"{as_alice} disable --now docker.service'"]
    machine.rootless["alice"] = (uid, True, "unknown", "unknown")  # no manager: nothing runs
    assert run_op(rootless.user_services_absent, machine, users=["alice", "bob"]).commands == []


def test_uninstall_removes_the_user_unit_after_the_daemons_stopped():
    machine = converged_machine(from_host_data(ALICE))
    result, commands = run_one(machine, deploy=uninstall_docker, **ALICE)
    assert result.status == "changed", result.error
    uid = machine.rootless["alice"][0]
    stop = commands.index(
        f"runuser -u alice -- env -i {CLEAN.format(uid=uid)} "
        "sh -c 'systemctl --user disable --now docker.service'"
    )
    remove = next(i for i, c in enumerate(commands) if " remove " in c and "docker-ce " in c)
    assert stop < remove < commands.index(f"rm -f {USER_UNIT}")


# the deploy ---------------------------------------------------------------------------------


def test_fresh_host_gets_rootless_docker_after_the_engine():
    result, commands = run_one(fresh_machine(urls=converged_machine().urls), **ALICE)
    assert result.error is None, result.error
    engine = next(i for i, c in enumerate(commands) if "install" in c and "docker-ce " in c)
    extras = next(i for i, c in enumerate(commands) if c.endswith(" docker-ce-rootless-extras"))
    prerequisites = next(i for i, c in enumerate(commands) if c.endswith(" slirp4netns"))
    assert engine < prerequisites < extras < commands.index("loginctl enable-linger alice")
    assert written_to(commands, USER_UNIT) == UNIT_TEXT.encode()
    assert written_to(commands, "/etc/subuid") == b"alice:100000:65536\n"
    assert not any(re.search(r"usermod .*docker", c) for c in commands)  # not in the group


def test_converged_rootless_host_is_read_in_one_command():
    machine = converged_machine(from_host_data(ALICE))
    result, commands = run_one(machine, facts=True, **ALICE)
    assert result.status == "unchanged", result.changed
    assert len(commands) == 1 and "=====provision-fact' 0 " in commands[0]


def test_a_changed_unit_restarts_the_users_daemon():
    machine = converged_machine(from_host_data(ALICE))
    machine.files[USER_UNIT] = ("644", "root:root", b"[Service]\n")
    result, commands = run_one(machine, **ALICE)
    assert result.changed == ["Rootless Docker user unit", "Rootless Docker services"]
    assert commands[-1].endswith("systemctl --user restart docker.service'")


def test_the_pin_and_hold_apply_to_the_extras():
    data = {**ALICE, "docker_version": "26.1.5", "docker_hold": True}
    machine = converged_machine(from_host_data(data))
    old = "5:20.10.24-1~debian.12~bookworm"
    machine.packages["docker-ce-rootless-extras"] = ("ii", old)
    machine.candidates["docker-ce-rootless-extras"] = [converged_machine().packages["docker-ce"][1]]
    result, commands = run_one(machine, **data)
    assert result.error is None
    install = next(c for c in commands if "install" in c and "rootless-extras=" in c)
    assert "docker-ce-rootless-extras=5:26.1.5-1~debian.12~bookworm" in install
    assert "apt-mark hold docker-ce-rootless-extras" in commands
    assert commands[-1].endswith("systemctl --user restart docker.service'")  # the new scripts


# settings and verification ------------------------------------------------------------------


def test_rootless_users_are_validated_like_docker_users():
    assert from_host_data({"docker_rootless_users": "alice"}).docker_rootless_users == ("alice",)
    with pytest.raises(SettingsError) as error:
        from_host_data({"docker_rootless_users": ["Bad Name", "root"]}, "web1")
    assert str(error.value) == (
        "web1: docker_rootless_users has invalid user names: 'Bad Name'; "
        "docker_rootless_users cannot name root: root runs the system daemon."
    )
    with pytest.raises(SettingsError, match="docker_rootless_users must be a list of names"):
        from_host_data({"docker_rootless_users": [1]})


def test_the_probe_runs_the_container_as_each_rootless_user():
    settings = from_host_data({**ALICE, "docker_verify_image_url": "http://lab/hello.tar"})
    commands = probe.commands(settings)
    run = commands["rootless_container:alice"]
    assert run.startswith("u=$(id -u alice) && cd / && runuser -u alice -- env -i HOME=")
    assert ' DOCKER_HOST=unix:///run/user/"$u"/docker.sock sh -c ' in run
    assert "sudo" not in run and "curl --globoff -fsSL http://lab/hello.tar" in run
    assert commands["rootless_groups:alice"] == "id -Gn alice"
    assert "rootless_container:alice" not in probe.commands(from_host_data({}))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_fact_names_users_and_what_their_systemctl_said_in_base64():
    fact = rootless.RootlessUsers()
    active = b64("active\n")
    lines = [f"{b64('alice')} 1001 yes {active} -", f"{b64('bob')} missing"]
    found, missing = fact.process([*lines, "garbage", "!!! 1 2 3 4", f"{b64('eve')} 1 no x y"])
    assert found == {"alice": rootless.RootlessUser(1001, True, "active", "unknown")}
    assert missing == ["bob"]


def test_a_users_systemctl_cannot_answer_for_another_user():
    """The user's own manager printing a whole forged line is still one value of its own."""
    forged = f"active\n{b64('root')} 0 yes active enabled\n{b64('bob')} missing\n"
    found, missing = rootless.RootlessUsers().process([f"{b64('alice')} 1001 no {b64(forged)} -"])
    assert found == {"alice": rootless.RootlessUser(1001, False, "active", "unknown")}
    assert missing == []
