"""Hostile strings in every value that reaches a shell: each stays one word.

Every command an operation, a fact or the verification probe builds is run by a real ``sh``
whose every program is a stand-in that logs its arguments. A value must arrive inside one
argument, whole, and the commands it carries (``touch``) must never run.
"""

from __future__ import annotations

import glob
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.docker import facts, preflight, rootless
from provision.docker import operations as ops
from provision.docker.settings import DockerSettings
from provision.runner.deploy import Account, Builder, buildx_builder, runner_user
from provision.verify import probe

from .fakes import DOCKER_VERSION, FakeMachine, converged_machine

PROGRAMS = (
    "apt-get apt-cache apt-helper apt-mark base64 cat chmod chown curl cut date docker dpkg "
    "dpkg-query find getent grep groupadd gzip id install loginctl ls mkdir mktemp mv rm runuser "
    "sed "
    "sha256sum sleep ss stat sudo systemctl timeout touch useradd usermod"
).split()
PAYLOADS = [
    "$(touch INJECTED)",
    "`touch INJECTED`",
    "; touch INJECTED",
    "' ; touch INJECTED ; '",
    '" ; touch INJECTED ; "',
    "\n touch INJECTED\n",
    "| touch INJECTED",
    "&& touch INJECTED #",
]
TEXT = st.text(alphabet=st.sampled_from(list("ab-_./:=%*?[]{}~!#&|;<>()$`'\"\\ \t\n")), max_size=12)
HOSTILE = st.builds(lambda a, p, b: f"x{a}{p}{b}", TEXT, st.sampled_from(PAYLOADS), TEXT)
RUNS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """Run commands with ``sh`` where every program is the logging stand-in."""
    root = tmp_path_factory.mktemp("hostile")
    bin_dir, log = root / "bin", root / "argv"
    bin_dir.mkdir()
    log.mkdir()
    logger = bin_dir / "stand-in"
    logger.write_text(
        '#!/bin/sh\nprintf "%s\\0" "${0##*/}" "$@" > "$ARGV_LOG/$$"\n'
        '[ "${0##*/} $1" = "docker image" ] && exit 1  # no image yet: the probe loads it\n'
        'case "${0##*/} $*" in "docker create "*--pull*) exit 1 ;; esac  # likewise\n'
        '[ "${0##*/} $1" = "mktemp -d" ] && /bin/mkdir -p "$ARGV_DIR/tmpdir"'
        ' && echo "$ARGV_DIR/tmpdir" && exit 0\n'
        '[ "${0##*/}" = mktemp ] && echo "$ARGV_DIR/tmpfile"\n'
        "# install -d makes its directory, as the real one does\n"
        '[ "${0##*/} $1" = "install -d" ] && eval "d=\\${$#}" && /bin/mkdir -p "$d"\n'
        "# runuser runs the script of its last argument (sh -c SCRIPT) with the stand-ins\n"
        '[ "${0##*/}" = runuser ] && eval "s=\\${$#}" && /bin/sh -c "$s"\n'
        "exit 0\n"
    )
    logger.chmod(0o755)
    for name in PROGRAMS:
        (bin_dir / name).symlink_to(logger)

    def run(commands: list[str]) -> list[list[str]]:
        for call in log.iterdir():
            call.unlink()
        env = {"PATH": str(bin_dir), "ARGV_LOG": str(log), "ARGV_DIR": str(root)}
        for command in commands:
            command = command.replace("/usr/lib/apt/apt-helper", "apt-helper")
            subprocess.run(  # files written from standard input get a line each
                ["/bin/sh", "-c", command], env=env, cwd=root, capture_output=True, input=b"\n" * 8
            )
        calls = [call.read_bytes() for call in log.iterdir()]
        calls = [[arg.decode() for arg in call.split(b"\x00")[:-1]] for call in calls]
        for call in calls:
            if call[0] == "runuser":  # a clean environment: no login shell, nothing of the user's
                assert call[1] == "-u" and call[3:6] == ["--", "env", "-i"], call
                assert call[-3:-1] == ["sh", "-c"] and "HOME=/nonexistent" in call, call
        return calls

    return run


def assert_one_word(calls: list[list[str]], value: str, program: str | None) -> None:
    """Nothing injected ran, and ``program`` got ``value`` whole inside one argument."""
    assert not [call for call in calls if call[0] == "touch"], calls
    if program is not None:
        received = [arg for call in calls if call[0] == program for arg in call[1:]]
        assert any(value in arg for arg in received), (program, value, calls)


@RUNS
@given(value=HOSTILE)
def test_facts_keep_each_value_one_word(shell, value):
    cases = [
        (facts.Packages().command([value, "curl"]), "dpkg-query"),
        (facts.FileContent().command(value), None),  # only the shell's own test reads it
        (facts.Backup().command(value), None),  # the shell's glob and test alone
        (facts.Download().command(value), "apt-helper"),
        (facts.Users().command(value, [value]), "getent"),
        (facts.Users().command("docker", [value]), "id"),
        (facts.ServiceState().command([value]), "systemctl"),
        (facts.CandidateVersions().command(value), "apt-cache"),
        (preflight.RepositoryOffer().command("", [value]), "apt-cache"),
        (facts.PolicyCandidates().command([value]), "apt-cache"),
        (Account().command(value), "getent"),
        (Builder().command(value, value), "runuser"),
        (Builder().command("runner", value), "docker"),  # inside the user's script
        (rootless.RootlessUsers().command([value]), "id"),
        (rootless.RootlessUsers().command([value]), "runuser"),
    ]
    for command, program in cases:
        assert_one_word(shell([command]), value, program)
    name = value.replace("/", "_")
    assert_one_word(shell([facts.Paths().command([f"/etc/apt/{name}"])]), name, "find")


class HostileMachine(FakeMachine):
    """A converged host that also has a package named ``value`` installed."""

    value = ""

    def fact(self, cls, *args, **kwargs):
        if cls in (Account, Builder):  # no such user or builder yet: they are made
            return None
        found = super().fact(cls, *args, **kwargs)
        if cls is facts.Packages:  # dpkg-query's output cannot hold such a name: no parsing
            found = {**found, self.value: facts.PackageState("1.0", "ii")}
        if cls is facts.ServiceState:  # nor can systemctl's
            found = {**found, self.value: ("inactive", "disabled")}
        return found


def hostile_machine(value: str) -> FakeMachine:
    """A host on which every operation has something to do with ``value``."""
    machine = HostileMachine(**converged_machine().__dict__)
    machine.value = value
    machine.files[value] = ("644", "root:root", b"old")
    line = f"deb {value}".encode()
    machine.files["/etc/apt/sources.list.d/x.list"] = ("644", "root:root", line)
    machine.files["/etc/apt/sources.list"] = ("644", "root:root", line)
    machine.paths.add(f"/etc/apt/{value.replace('/', '_')}")
    machine.users.add(value)
    machine.candidates[value] = [DOCKER_VERSION]
    return machine


@RUNS
@given(value=HOSTILE)
def test_operations_keep_each_value_one_word(shell, run_op, value):
    machine = hostile_machine(value)
    cases = [
        (ops.packages_absent, {"packages": [value]}, "apt-get"),
        (ops.file_content, {"path": value, "content": value}, "install"),
        (ops.file_absent, {"path": value}, "rm"),
        (ops.apt_update, {"cleanup_on_failure": [value]}, None),  # rm runs only on failure
        (ops.docker_packages, {"packages": [value], "pins": {}, "holds": [value]}, "apt-mark"),
        (ops.group_members, {"group": value, "users": [value]}, "usermod"),
        (ops.service, {"unit": value}, "systemctl"),
        (runner_user, {"user": value}, "useradd"),
        (buildx_builder, {"user": value, "builder": value}, "runuser"),
        (rootless.subordinate_ids, {"users": [value]}, None),  # base64 only
        (rootless.user_services, {"users": [value]}, "loginctl"),
        (rootless.user_services, {"users": [value]}, "runuser"),
    ]
    for op, kwargs, program in cases:
        run = run_op(op, machine, **kwargs)
        assert run.commands, op.__name__
        assert_one_word(shell(run.commands), value, program)
    name = f"/etc/apt/{value.replace('/', '_')}"
    run = run_op(ops.paths_absent, machine, patterns=[glob.escape(name)])
    assert_one_word(shell(run.commands), name, "rm")


@RUNS
@given(value=HOSTILE)
def test_a_hostile_pin_stays_one_word(shell, run_op, value):
    machine = hostile_machine(value)
    machine.candidates["docker-ce"] = [f"5:{value}-1"]
    run = run_op(
        ops.docker_packages, machine, packages=["docker-ce"], pins={"docker-ce": value}, holds=[]
    )
    assert_one_word(shell(run.commands), f"docker-ce=5:{value}-1", "apt-get")


@RUNS
@given(value=HOSTILE)
def test_refusals_print_hostile_values_without_running_them(shell, value):
    calls = shell([ops.refuse(f"web1: {value}")])
    assert_one_word(calls, value, None)


@RUNS
@given(value=HOSTILE)
def test_the_probe_keeps_each_value_one_word(shell, value):
    checked = DockerSettings(
        docker_users=(value,),
        docker_rootless_users=(value,),
        docker_verify_image=value,
        docker_verify_image_url=value,
        docker_verify_image_sha256="0" * 64,
    )
    calls = shell([probe.render(probe.commands(checked))])
    assert_one_word(calls, value, "id")
    assert_one_word(calls, value, "runuser")
    assert_one_word(calls, value, "docker")
    assert_one_word(calls, value, "curl")
    assert any(call[0] == "sha256sum" for call in calls)


def test_the_stand_in_shell_sees_an_injection(shell):
    """The check above can fail: an unquoted value does run its payload."""
    calls = shell(["echo x$(touch INJECTED)"])
    with pytest.raises(AssertionError):
        assert_one_word(calls, "x$(touch INJECTED)", None)
