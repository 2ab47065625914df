"""Hostile strings in every value that reaches a shell: each stays one word.

Every command an operation, a fact or the verification probe builds is run by a real ``sh``
whose every program is a stand-in that logs its arguments. A value must arrive inside one
argument, whole, and the commands it carries (``touch``) must never run.
"""

from __future__ import annotations

import glob
import shlex
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.docker import apt_operations as apt_ops
from provision.docker import facts, preflight, rootless
from provision.docker import operations as ops
from provision.docker.settings import DockerSettings
from provision.profiles.ci_runner.deploy import Account, Builder, buildx_builder, runner_user
from provision.verify import probe

from .fakes import DOCKER_VERSION, FakeMachine, b64, converged_machine, written

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
        (apt_ops.packages_absent, {"packages": [value]}, "apt-get"),
        (ops.file_content, {"path": value, "content": value}, "install"),
        (ops.file_absent, {"path": value}, "rm"),
        (apt_ops.apt_update, {"cleanup_on_failure": [value]}, None),  # rm runs only on failure
        (apt_ops.docker_packages, {"packages": [value], "pins": {}, "holds": [value]}, "apt-mark"),
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
        apt_ops.docker_packages,
        machine,
        packages=["docker-ce"],
        pins={"docker-ce": value},
        holds=[],
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


# the operations, and the commands of exec, the lock and bootstrap, not run above -----------------

EDGE = st.builds(  # what settings refuse (a leading -, CR, NEL, U+2028): still one word here
    lambda head, value, tail: f"{head}{value}{tail}",
    st.sampled_from(["-", "--", "-o", "x"]),
    HOSTILE,
    st.sampled_from(["", "\r", "\x85", "\u2028", "\r\n touch INJECTED"]),
)


@settings(RUNS, max_examples=20)
@given(value=st.one_of(HOSTILE, EDGE))
def test_the_other_operations_keep_each_value_one_word_and_contents_off_command_lines(
    shell, run_op, value
):
    """Each operation the test above does not run, driven to do something with ``value``:
    values reach programs whole, and a file's contents never reach a command line."""
    from provision.docker.settings import DOCKER_FINGERPRINT

    from .fakes import DOCKER_KEY

    machine = hostile_machine(value)
    machine.urls[value] = DOCKER_KEY
    machine.dpkg_interrupted = True
    machine.packages["docker-ce"] = ("ii", "5:20.10.24-1~debian.12~bookworm")  # a proxy drop-in
    machine.rootless[value] = (1001, True, "active", "enabled")
    hostile = DockerSettings(
        docker_daemon_options={"labels": [value]},
        docker_proxy={"https": value, "no_proxy": value},
        docker_data_root=f"/srv/{value}",
        docker_data_root_force=True,
    )
    cases = [
        (apt_ops.packages_present, {"packages": [f"{value}-new"]}, "apt-get", f"{value}-new"),
        (apt_ops.packages_absent, {"packages": [value], "purge": True}, "apt-get", value),
        (apt_ops.dpkg_repaired, {"package_sets": [[value]]}, "dpkg", None),
        (
            ops.signing_key,
            {"path": value, "url": value, "fingerprint": DOCKER_FINGERPRINT},
            "install",
            value,
        ),
        (ops.daemon_config_file, {"settings": hostile}, "install", None),
        (ops.proxy_dropin_file, {"settings": hostile}, "install", None),
        (rootless.user_services_absent, {"users": [value]}, "runuser", value),
        (buildx_builder, {"user": value, "builder": value, "rootless": True}, "runuser", value),
    ]
    for op, kwargs, program, received in cases:
        run = run_op(op, machine, **kwargs)
        assert run.commands, op.__name__
        calls = shell(run.commands)
        assert_one_word(calls, received or "", program if received else None)
        assert any(call[0] == program for call in calls), (op.__name__, calls)
        if op in (ops.daemon_config_file, ops.proxy_dropin_file):
            content = written(run.commands)  # the file, on standard input alone
            assert content
            assert not any(value in command for command in run.commands)
            assert not any(b64(content) in command for command in run.commands)


@RUNS
@given(value=st.one_of(HOSTILE, EDGE))
def test_exec_runs_any_command_through_sudo_as_given(value):
    """``provision exec --sudo``: the command is one argument of ``sh -c``, whatever it holds."""
    from provision.orchestrate.exec import remote_command

    line = remote_command(f"printf %s {shlex.quote(value)}", sudo=True)
    argv = shlex.split(line)
    assert argv[:4] == ["sudo", "-n", "sh", "-c"] and len(argv) == 5
    ran = subprocess.run(["/bin/sh", "-c", argv[4]], capture_output=True)
    assert ran.stdout == value.encode()


@RUNS
@given(who=st.one_of(HOSTILE, EDGE), wait=st.integers(-5, 5))
def test_the_lock_holds_any_owner_line_as_one_argument(tmp_path_factory, who, wait):
    """The lock's owner line (controller name, user) and wait reach its script as arguments;
    with a real ``flock``, the file then holds that line and nothing ran."""
    from provision.orchestrate import lock

    root = tmp_path_factory.mktemp("lock")
    argv = shlex.split(lock.command(wait, who, sudo=False))
    wanted = ["provision-lock", lock.LOCK_FILE, who, str(max(0, wait))]
    assert argv == ["sh", "-c", lock.SCRIPT, *wanted]
    argv[4] = str(root / "provision.lock")
    held = subprocess.run(argv, input=b"", capture_output=True, cwd=root, timeout=30)
    assert held.stdout == b"locked\n", held.stderr
    assert (root / "provision.lock").read_bytes() == f"{who}\n".encode()
    assert not (root / "INJECTED").exists()


@RUNS
@given(user=st.one_of(HOSTILE, EDGE), key=st.one_of(HOSTILE, EDGE), sudo=st.booleans())
def test_bootstrap_hands_its_scripts_user_and_key_as_arguments(user, key, sudo):
    """bootstrap runs its scripts as root with the deploy user and key line as ``$1`` and
    ``$2``, one word each; and such a user never gets that far: its grammar refuses it (the
    sudoers rule written from it must be one line of one word)."""
    from types import SimpleNamespace

    from provision.orchestrate import bootstrap

    lines = []

    class Connection:
        host = "web1"

        def run(self, line, **options):
            lines.append(line)
            return SimpleNamespace(stdout="changed user made\n", stderr="", exited=0)

    result = bootstrap.BootstrapResult()
    initial = "admin" if sudo else "root"
    assert bootstrap._as_root(Connection(), initial, None, bootstrap.ACCOUNT, [user, key], result)
    argv = shlex.split(lines[0])
    expected = ["sh", "-c", bootstrap.ACCOUNT, "provision-bootstrap", user, key]
    assert argv == (["sudo", "-n"] if sudo else []) + expected
    assert bootstrap.USER_NAME.fullmatch(user) is None
