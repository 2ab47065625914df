"""The Docker operations: the commands they yield for given facts, and noop when converged."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess

import pytest
from pyinfra.api.operation import OperationMeta
from pyinfra.connectors.util import CommandOutput

from provision.docker import apt_operations as apt_ops
from provision.docker import daemon, keyring
from provision.docker import operations as ops
from provision.docker.deploy import KEYRING, PREREQUISITES, SOURCES, STALE_PATHS
from provision.docker.dpkg import version_matches
from provision.docker.files import write_file
from provision.docker.settings import DEFAULT_OBSOLETE, DEFAULT_PACKAGES, DOCKER_FINGERPRINT

from .fakes import (
    DOCKER_KEY,
    DOCKER_SUBKEY,
    DOCKER_VERSION,
    FakeMachine,
    converged_machine,
    fresh_machine,
    synthetic_key,
    v4_fingerprint,
    written,
)

KEY_URL = "https://download.docker.com/linux/debian/gpg"
OTHER = synthetic_key(b"attacker")
OTHER_ARMOR = keyring.PublicKey(tuple(keyring.packets(OTHER))).armored()


def is_apt_get(command: str, *args: str) -> bool:
    words = shlex.split(command)
    return (
        words[:5] == ["DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "-o"]
        and "DPkg::Lock::Timeout=300" in words
        and words[-len(args) :] == list(args)
    )


# packages_absent ---------------------------------------------------------------------------


# facts in, then the apt-get commands (lock timeout, then its last words) or a no-op out
PACKAGES_ABSENT = [
    pytest.param(fresh_machine(), {"packages": list(DEFAULT_OBSOLETE)}, [], id="none-installed"),
    pytest.param(  # a purge of Debian's docker.io deletes /var/lib/docker
        fresh_machine(packages={"docker.io": ("ii", "24.0.7-2"), "runc": ("ii", "1.1.5")}),
        {"packages": list(DEFAULT_OBSOLETE), "lock_timeout": 60},
        [(60, "remove", "docker.io", "runc")],
        id="removed-not-purged",
    ),
    pytest.param(
        fresh_machine(packages={"docker.io": ("rc", "24.0.7-2")}),
        {"packages": ["docker.io", "runc"]},
        [],
        id="configuration-left-counts-as-gone",
    ),
    pytest.param(
        fresh_machine(packages={"docker.io": ("rc", "24.0.7-2")}),
        {"packages": ["docker.io", "runc"], "purge": True},
        [(300, "purge", "docker.io")],
        id="configuration-left-purged-when-purging",
    ),
]


@pytest.mark.parametrize(("machine", "kwargs", "commands"), PACKAGES_ABSENT)
def test_packages_absent(run_op, machine, kwargs, commands):
    run = run_op(apt_ops.packages_absent, machine, **kwargs)
    assert len(run.commands) == len(commands)
    for command, (lock, *args) in zip(run.commands, commands, strict=True):
        words = shlex.split(command)
        assert words[:2] == ["DEBIAN_FRONTEND=noninteractive", "apt-get"]
        assert f"DPkg::Lock::Timeout={lock}" in words and words[-len(args) :] == args
    assert len(run.noops) == (0 if commands else 1)


# paths_absent / repository_sources_absent / file_absent -------------------------------------


def test_stale_sources_and_keys_are_removed(run_op):
    machine = fresh_machine(
        paths={
            "/etc/apt/sources.list.d/docker.list",
            "/etc/apt/sources.list.d/download_docker_com_linux_debian.list",
            "/etc/apt/trusted.gpg.d/docker.gpg",
            "/etc/apt/keyrings/docker.gpg",
            "/usr/share/keyrings/docker-archive-keyring.gpg",
            "/etc/apt/sources.list.d/debian.sources",
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        }
    )
    run = run_op(ops.paths_absent, machine, patterns=STALE_PATHS)
    removed = [shlex.split(command)[2] for command in run.commands]
    assert sorted(removed) == sorted(
        [
            "/etc/apt/sources.list.d/docker.list",
            "/etc/apt/sources.list.d/download_docker_com_linux_debian.list",
            "/etc/apt/trusted.gpg.d/docker.gpg",
            "/etc/apt/keyrings/docker.gpg",
            "/usr/share/keyrings/docker-archive-keyring.gpg",
        ]
    )


def test_no_stale_paths_is_a_noop(run_op):
    run = run_op(ops.paths_absent, fresh_machine(), patterns=STALE_PATHS)
    assert run.commands == [] and run.noops


DOCKER_URIS = [f"https://download.docker.com/linux/{d}" for d in ("ubuntu", "debian", "raspbian")]


def sources_absent(run_op, machine):
    return run_op(
        ops.repository_sources_absent,
        machine,
        uris=DOCKER_URIS,
        components=["stable", "test"],
        keyring=KEYRING,
        keep=SOURCES,
    )


def test_other_sources_of_the_repository_are_removed_but_ours_kept(run_op):
    line = b"deb [arch=amd64] https://download.docker.com/linux/debian bookworm stable\n"
    ours = b"Types: deb\nURIs: https://download.docker.com/linux/debian\nComponents: stable\n"
    debian = b"Types: deb\nURIs: http://deb.debian.org/debian\nComponents: main\n"
    machine = fresh_machine(
        files={
            SOURCES: ("644", "root:root", ours),
            "/etc/apt/sources.list.d/archive_uri-https_download_docker_com_linux_debian-bookworm"
            ".list": ("644", "root:root", line),
            "/etc/apt/sources.list.d/debian.sources": ("644", "root:root", debian),
        }
    )
    run = sources_absent(run_op, machine)
    assert run.commands == [
        "rm -f /etc/apt/sources.list.d/archive_uri-https_download_docker_com_linux_debian-"
        "bookworm.list"
    ]
    only_ours = FakeMachine(files={SOURCES: machine.files[SOURCES]})
    assert sources_absent(run_op, only_ours).commands == []


def test_docker_lines_of_sources_list_are_commented_out(run_op):
    text = "https://download.docker.com/linux/debian"
    sources_list = (
        "deb http://deb.debian.org/debian bookworm main\n"
        f"deb [arch=amd64] {text} bookworm stable\n"
        f"# deb {text} bookworm test\n"
    )
    machine = fresh_machine(
        files={
            "/etc/apt/sources.list": ("640", "root:root", sources_list.encode()),
            "/etc/apt/sources.list.d/docker.list": (
                "644",
                "root:root",
                f"deb {text} x stable".encode(),
            ),
            SOURCES: ("644", "root:root", f"URIs: {text}\n".encode()),
        }
    )
    run = sources_absent(run_op, machine)
    assert run.commands[-1] == "rm -f /etc/apt/sources.list.d/docker.list"
    assert run.commands[0].endswith(
        "mv -f /etc/apt/sources.list.provision-tmp /etc/apt/sources.list"
    )
    assert "chmod 640 " in run.commands[0]  # the file keeps its mode
    assert written(run.commands, "/etc/apt/sources.list").decode() == (
        "deb http://deb.debian.org/debian bookworm main\n"
        f"# deb [arch=amd64] {text} bookworm stable\n"
        f"# deb {text} bookworm test\n"
    )


def test_debian_and_docker_mirrors_on_one_host_name_stay_apart(run_op):
    """A mirror serving Debian and Docker under one host name: only Docker's entries go."""
    mirror = "http://mirror.internal"
    debian_list = f"deb {mirror}/debian bookworm main\ndeb {mirror}/debian-security x main\n"
    debian_sources = f"Types: deb\nURIs: {mirror}/debian\nSuites: bookworm\nComponents: main\n"
    docker = f"deb [trusted=yes] {mirror}:80//docker/linux/debian/ bookworm stable\n"
    machine = fresh_machine(
        files={
            "/etc/apt/sources.list": ("644", "root:root", (debian_list + docker).encode()),
            "/etc/apt/sources.list.d/debian.sources": (
                "644",
                "root:root",
                debian_sources.encode(),
            ),
        }
    )
    run = run_op(
        ops.repository_sources_absent,
        machine,
        uris=[f"{mirror}/docker/linux/{d}" for d in ("ubuntu", "debian")],
        components=["stable"],
        keyring=KEYRING,
        keep=SOURCES,
    )
    assert len(run.commands) == 1
    assert written(run.commands).decode() == debian_list + "# " + docker


def test_file_contents_from_the_host_never_reach_a_command(run_op):
    text = "http://x/'`touch /tmp/pwned`$(id)/debian"
    line = f"deb https://download.docker.com/linux/debian bookworm stable # {text}\n"
    machine = fresh_machine(files={"/etc/apt/sources.list": ("644", "root:root", line.encode())})
    run = sources_absent(run_op, machine)
    assert len(run.commands) == 1 and "touch" not in run.commands[0]
    assert written(run.commands) == f"# {line}".encode()


def test_commented_out_sources_are_left_alone(run_op):
    text = "https://download.docker.com/linux/debian"
    machine = fresh_machine(
        files={
            "/etc/apt/sources.list": (
                "644",
                "root:root",
                f"# deb {text} bookworm stable\n".encode(),
            ),
            "/etc/apt/sources.list.d/old.list": ("644", "root:root", f"#deb {text} a b".encode()),
            "/etc/apt/sources.list.d/docker.list.save": (
                "644",
                "root:root",
                f"deb {text} a b".encode(),
            ),
        }
    )
    run = sources_absent(run_op, machine)
    assert run.commands == [] and run.noops == ["no other sources for " + ", ".join(DOCKER_URIS)]


@pytest.mark.parametrize(
    ("machine", "commands"),
    [
        pytest.param(fresh_machine(), [], id="missing"),
        pytest.param(converged_machine(), [f"rm -f {SOURCES}"], id="present"),
    ],
)
def test_file_absent(run_op, machine, commands):
    assert run_op(ops.file_absent, machine, path=SOURCES).commands == commands


# packages_present ---------------------------------------------------------------------------


def test_prerequisites_are_installed_after_an_apt_update(run_op):
    run = run_op(apt_ops.packages_present, fresh_machine(), packages=PREREQUISITES)
    assert len(run.commands) == 2
    assert is_apt_get(run.commands[0], "update")
    assert is_apt_get(run.commands[1], "install", "--no-install-recommends", *PREREQUISITES)


def test_installed_prerequisites_are_a_noop(run_op):
    run = run_op(apt_ops.packages_present, converged_machine(), packages=PREREQUISITES)
    assert run.commands == [] and run.noops == ["ca-certificates, curl installed"]


def test_only_missing_or_broken_prerequisites_are_installed(run_op):
    machine = fresh_machine(packages={"ca-certificates": ("ii", "20230311"), "curl": ("iF", "7.8")})
    run = run_op(apt_ops.packages_present, machine, packages=PREREQUISITES)
    assert is_apt_get(run.commands[-1], "install", "--no-install-recommends", "curl")


# signing_key --------------------------------------------------------------------------------


def key_run(run_op, machine, fingerprint=DOCKER_FINGERPRINT, host_name="web1"):
    return run_op(
        ops.signing_key,
        machine,
        host_name=host_name,
        path=KEYRING,
        url=KEY_URL,
        fingerprint=fingerprint,
    )


def test_key_is_written_only_after_its_fingerprint_matched(run_op):
    machine = fresh_machine(urls={KEY_URL: DOCKER_KEY})
    run = key_run(run_op, machine)
    assert [name for name, _ in machine.calls] == ["FileContent", "Download"]
    assert len(run.commands) == 1 and run.refusal is None
    command = run.commands[0]
    assert command.startswith(
        "{ [ -d /etc/apt/keyrings ] || install -d -m 0755 /etc/apt/keyrings; } && "
    )
    assert written(run.commands) == DOCKER_KEY
    assert "chmod 0644 /etc/apt/keyrings/docker.asc.provision-tmp" in command
    assert command.endswith(f"mv -f {KEYRING}.provision-tmp {KEYRING}")


def test_a_key_in_place_is_not_downloaded_again(run_op):
    machine = converged_machine()
    run = key_run(run_op, machine)
    assert run.commands == []
    assert run.noops == [f"{KEYRING} holds only key {DOCKER_FINGERPRINT}"]
    assert [name for name, _ in machine.calls] == ["FileContent"]


@pytest.mark.parametrize(
    ("mode", "owner", "content"),
    [
        ("600", "root:root", DOCKER_KEY),
        ("644", "alice:alice", DOCKER_KEY),
        ("644", "root:root", DOCKER_KEY + OTHER_ARMOR),
        ("644", "root:root", keyring.dearmor(DOCKER_KEY)),
        ("644", "root:root", DOCKER_KEY.replace(b"\n\n", b"\nComment: hand-made\n\n", 1)),
        ("644", "root:root", OTHER_ARMOR),
    ],
    ids=["mode", "owner", "second-block", "binary", "not-canonical", "other-key"],
)
def test_a_key_in_place_that_is_not_what_would_be_written_is_rewritten(
    run_op, mode, owner, content
):
    machine = converged_machine()
    machine.files[KEYRING] = (mode, owner, content)
    run = key_run(run_op, machine)
    assert [name for name, _ in machine.calls] == ["FileContent", "Download"]
    assert written(run.commands) == DOCKER_KEY


def refused(run, host_name: str = "web1") -> str:
    """The refusal sentence, after checking that nothing would be written."""
    assert len(run.commands) == 1 and run.commands[0].endswith("exit 1")
    assert "base64 -d" not in run.commands[0] and "mv -f" not in run.commands[0]
    assert run.refusal.startswith(f"{host_name}: ")
    return run.refusal


def test_a_key_with_the_wrong_fingerprint_is_refused_and_not_written(run_op):
    impostor = synthetic_key(b"impostor")
    run = key_run(run_op, fresh_machine(urls={KEY_URL: impostor}), host_name="web7")
    assert refused(run, "web7") == (
        f"web7: {KEY_URL} returned a key with fingerprint {v4_fingerprint(impostor)}, not "
        f"exactly one OpenPGP public key with fingerprint {DOCKER_FINGERPRINT}; nothing was "
        "written; check docker_gpg_key_url, docker_gpg_fingerprint or the mirror."
    )


def test_a_mirrors_own_key_is_accepted_with_its_fingerprint_and_written_armored(run_op):
    lab_key = synthetic_key(b"lab")
    run = key_run(run_op, fresh_machine(urls={KEY_URL: lab_key}), v4_fingerprint(lab_key))
    assert written(run.commands) == keyring.checked_key(lab_key, v4_fingerprint(lab_key)).armored()
    assert written(run.commands).startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n")


@pytest.mark.parametrize(
    ("download", "found"),
    [
        (b"<!DOCTYPE html><html><body>captive portal</body></html>", "an HTML page"),
        (DOCKER_KEY + OTHER_ARMOR, "a second armor block after the key's armor"),
        (keyring.dearmor(DOCKER_KEY) + OTHER, f"a second public key ({v4_fingerprint(OTHER)})"),
        (DOCKER_KEY + b"<script>", "data after the key's armor"),
        (keyring.dearmor(DOCKER_KEY)[:2], "a truncated OpenPGP packet"),
    ],
    ids=["html", "two-blocks", "two-keys-binary", "trailing-data", "truncated"],
)
def test_a_download_that_is_not_exactly_the_key_is_refused(run_op, download, found):
    run = key_run(run_op, fresh_machine(urls={KEY_URL: download}))
    assert f"web1: {KEY_URL} returned {found}" in refused(run)
    assert "nothing was written" in run.refusal


def test_a_failed_download_is_refused_with_apts_reason(run_op):
    run = key_run(run_op, fresh_machine())
    assert refused(run) == (
        f"web1: cannot download the Docker signing key from {KEY_URL} (E: Failed to fetch "
        f"{KEY_URL}  404  Not Found); check docker_repo_url / docker_gpg_key_url; nothing was "
        "written."
    )


def test_a_subkey_fingerprint_is_not_accepted_as_the_pin(run_op):
    run = key_run(run_op, fresh_machine(urls={KEY_URL: DOCKER_KEY}), DOCKER_SUBKEY)
    assert f"returned a key with fingerprint {DOCKER_FINGERPRINT}, not exactly" in refused(run)


# key_absent_from ----------------------------------------------------------------------------


def test_docker_key_is_cut_out_of_a_large_legacy_keyring(run_op):
    others = b"".join(synthetic_key(str(i).encode()) for i in range(5000))  # ~70 KiB
    ring = others[:30] + keyring.dearmor(DOCKER_KEY) + others[30:]
    machine = FakeMachine(files={"/etc/apt/trusted.gpg": ("600", "root:root", ring)})
    run = run_op(
        ops.key_absent_from, machine, path="/etc/apt/trusted.gpg", fingerprint=DOCKER_FINGERPRINT
    )
    assert len(run.commands) == 1 and len(run.commands[0]) < 1000  # the bytes go on stdin
    assert written(run.commands) == others
    assert "chmod 600 " in run.commands[-1]


def test_a_legacy_keyring_without_docker_key_is_left_alone(run_op):
    machine = FakeMachine(files={"/etc/apt/trusted.gpg": ("644", "root:root", OTHER)})
    run = run_op(
        ops.key_absent_from, machine, path="/etc/apt/trusted.gpg", fingerprint=DOCKER_FINGERPRINT
    )
    assert run.commands == [] and run.noops


# file_content -------------------------------------------------------------------------------


def test_file_content_writes_a_missing_file(run_op):
    run = run_op(ops.file_content, fresh_machine(), path=SOURCES, content="Types: deb\n")
    assert len(run.commands) == 1 and written(run.commands) == b"Types: deb\n"


@pytest.mark.parametrize(
    ("mode", "owner", "content", "changes"),
    [
        ("644", "root:root", b"Types: deb\n", False),
        ("600", "root:root", b"Types: deb\n", True),
        ("644", "admin:admin", b"Types: deb\n", True),
        ("644", "root:root", b"Types: deb-src\n", True),
    ],
    ids=["same", "mode", "owner", "content"],
)
def test_file_content_compares_mode_owner_and_bytes(run_op, mode, owner, content, changes):
    machine = FakeMachine(files={SOURCES: (mode, owner, content)})
    run = run_op(ops.file_content, machine, path=SOURCES, content="Types: deb\n")
    assert bool(run.commands) == changes
    assert bool(run.noops) != changes


@pytest.mark.skipif(os.geteuid() != 0, reason="the written file is chown'ed to root")
def run_write(commands, stdin: str | None = None) -> subprocess.CompletedProcess:
    (command,) = commands
    given = command.connector_arguments.get("_stdin") if stdin is None else stdin
    return subprocess.run(["sh", "-c", str(command)], input=given or "", text=True, check=False)


@pytest.mark.parametrize("size", [0, 10, 70_000, 3 * 65536 + 7])
def test_write_file_writes_atomically_through_stdin(tmp_path, size):
    target = tmp_path / "dir with space" / "it's.json"
    content = (b'{"a": 1}\n\x00\xff binary too\n' * (size // 20 + 1))[:size]
    commands = write_file(str(target), content, "0640")
    assert run_write(commands).returncode == 0
    assert target.read_bytes() == content
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert list(target.parent.iterdir()) == [target]  # no temporary file left


def test_written_contents_are_on_no_command_line(tmp_path):
    secret = b'Acquire::http::Proxy "http://u:hunter2-secret@proxy:3128";\n'
    (command,) = write_file(str(tmp_path / "95proxy"), secret, "0600")
    line = str(command)
    assert "hunter2" not in line and base64.b64encode(secret).decode()[:16] not in line
    assert base64.b64decode(command.connector_arguments["_stdin"]) == secret


@pytest.mark.skipif(os.geteuid() != 0, reason="the written file is chown'ed to root")
@pytest.mark.parametrize("cut", [0, 4, 1000])
def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path, cut):
    target = tmp_path / "trusted.gpg"
    target.write_bytes(b"old")
    commands = write_file(str(target), bytes(3000), "0644")
    partial = commands[0].connector_arguments["_stdin"][:cut]  # the connection drops
    assert run_write(commands, partial).returncode != 0
    assert target.read_bytes() == b"old"
    tmp = target.with_name("trusted.gpg.provision-tmp")
    assert oct(tmp.stat().st_mode & 0o777) == "0o600"  # the partial copy is root's alone


def test_refusal_command_fails_with_the_message():
    command = ops.refuse("web1: it's `broken`; $HOME stays unexpanded.")
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "web1: it's `broken`; $HOME stays unexpanded.\n"


# apt_update ---------------------------------------------------------------------------------


def test_apt_update_removes_the_new_source_when_it_fails(run_op):
    run = run_op(apt_ops.apt_update, FakeMachine(), cleanup_on_failure=[SOURCES])
    assert len(run.commands) == 1
    update, _, cleanup = run.commands[0].rpartition(" || ")
    assert is_apt_get(update.removeprefix("{ ").removesuffix("; }"), "update")
    assert cleanup == f"{{ status=$?; rm -f {SOURCES}; exit $status; }}"


@pytest.mark.parametrize(
    ("output", "status", "fails"),
    [
        ("Hit:1 http://deb.debian.org/debian bookworm InRelease", 0, False),
        ("W: GPG error: http://repo.test/linux/debian bookworm InRelease: NO_PUBKEY 8D81", 0, True),
        ("W: Failed to fetch http://repo.test/linux/debian/dists/x/InRelease  404", 0, True),
        ("W: http://other.test/debian bookworm InRelease: something", 0, False),
        ("E: The repository 'http://repo.test/linux/debian x Release' is not signed.", 100, True),
        ("E: Could not get lock /var/lib/apt/lists/lock", 100, True),
    ],
)
def test_apt_update_fails_on_apts_words_about_the_repository(
    run_op, tmp_path, output, status, fails
):
    run = run_op(
        apt_ops.apt_update,
        FakeMachine(),
        cleanup_on_failure=[SOURCES],
        repository_uri="http://repo.test/linux/debian",
    )
    apt = tmp_path / "apt-get"
    apt.write_text(f"#!/bin/sh\necho {shlex.quote(output)}\nexit {status}\n")
    apt.chmod(0o755)
    command = run.commands[0].replace(f"rm -f {SOURCES}", "echo removed")
    path = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=path)
    assert (done.returncode != 0) == fails
    assert ("removed" in done.stdout) == fails
    if fails and status == 0:
        assert done.stderr.strip() == output  # apt's own words


def changed(flag: bool) -> OperationMeta:
    """An operation that (would have) changed or not."""
    return OperationMeta("hash", flag)


def done(flag: bool) -> OperationMeta:
    meta = OperationMeta("hash", None)
    meta.set_complete(True, ["command"] if flag else [], CommandOutput([]))
    return meta


@pytest.mark.parametrize(
    ("after", "runs"),
    [
        ([changed(False), changed(False)], False),
        ([changed(False), changed(True)], True),
        ([done(False), done(False)], False),
        ([done(True), done(False)], True),
    ],
    ids=["would-not", "would", "did-not", "did"],
)
def test_apt_update_runs_only_after_a_change(run_op, after, runs):
    run = run_op(apt_ops.apt_update, FakeMachine(), after=after)
    assert bool(run.commands) == runs
    assert bool(run.noops) != runs


@pytest.mark.parametrize(
    ("after", "cleans_up"),
    [
        ([changed(False)], False),
        ([done(False)], False),
        ([changed(True)], True),
        ([done(True)], True),
    ],
    ids=["would-not", "did-not", "would", "did"],
)
def test_apt_update_runs_for_an_install_and_removes_only_a_repository_just_added(
    run_op, after, cleans_up
):
    """apt's lists may lack a repository whose key and sources are in place (a run stopped
    before its update, lists removed): an install reads them anew, and a failure then
    removes only what this run wrote, never a repository that was there before."""
    run = run_op(
        apt_ops.apt_update,
        FakeMachine(),
        after=after,
        cleanup_on_failure=[SOURCES],
        installing=True,
    )
    [command] = run.commands
    assert not run.noops
    if cleans_up:
        assert command.endswith(f"|| {{ status=$?; rm -f {SOURCES}; exit $status; }}")
    else:
        assert is_apt_get(command, "update")


def test_apt_update_cleanup_keeps_apt_gets_exit_status(run_op, tmp_path):
    source = tmp_path / "docker.sources"
    source.write_text("Types: deb\n")
    run = run_op(apt_ops.apt_update, FakeMachine(), cleanup_on_failure=[str(source)])
    _, _, cleanup = run.commands[0].partition(" || ")
    done = subprocess.run(["sh", "-c", f"sh -c 'exit 100' || {cleanup}"])
    assert done.returncode == 100 and not source.exists()


# version_matches ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "wanted", "matches"),
    [
        ("5:26.1.5-1~debian.12~bookworm", "26.1.5", True),
        ("5:26.1.5-1~ubuntu.24.04~noble", "26.1.5", True),
        ("5:26.1.5-1~debian.12~bookworm", "5:26.1.5-1~debian.12~bookworm", True),
        ("5:20.10.24~3-0~debian-bookworm", "20.10.24", True),
        ("5:26.1.50-1~debian.12~bookworm", "26.1.5", False),
        ("5:26.1.4-1~debian.12~bookworm", "26.1.5", False),
        ("5:27.0.3-1~debian.12~bookworm", "27", False),
        ("26.1.5+dfsg1-1", "26.1.5", False),  # Debian's docker.io, not Docker's build
        ("5:27.0.0~rc.1-1~debian.12~bookworm", "27.0.0", False),  # a release candidate
        ("5:27.0.0~beta.2-1~ubuntu.24.04~noble", "27.0.0", False),
        ("5:27.0.0~rc.1-1~debian.12~bookworm", "27.0.0~rc.1", True),  # asked for by name
        ("5:19.03.0~3-0~debian-buster", "19.03.0", True),  # the older scheme's build number
    ],
)
def test_version_matches(version, wanted, matches):
    assert version_matches(version, wanted) is matches


# docker_packages ----------------------------------------------------------------------------


def packages_run(run_op, machine, pins=None, holds=(), host_name="web1"):
    return run_op(
        apt_ops.docker_packages,
        machine,
        host_name=host_name,
        packages=list(DEFAULT_PACKAGES),
        pins=pins or {},
        holds=list(holds),
    )


INSTALL_FLAGS = ("install", "--no-install-recommends", "--allow-downgrades")


def test_fresh_host_installs_the_five_packages_in_one_command(run_op):
    run = packages_run(run_op, fresh_machine())
    assert len(run.commands) == 1
    assert is_apt_get(run.commands[0], *DEFAULT_PACKAGES)
    words = shlex.split(run.commands[0])
    assert "DPkg::Lock::Timeout=300" in words
    assert "Dpkg::Options::=--force-confold" in words
    assert words[words.index("install") :] == [
        "install",
        "--no-install-recommends",
        "--allow-downgrades",
        "--allow-change-held-packages",
        *DEFAULT_PACKAGES,
    ]


def test_converged_packages_are_a_noop(run_op):
    run = packages_run(run_op, converged_machine())
    assert run.commands == [] and len(run.noops) == 1


def test_version_pins_resolve_to_the_repositorys_full_version(run_op):
    machine = fresh_machine(
        candidates={
            "docker-ce": ["5:27.3.1-1~debian.12~bookworm", DOCKER_VERSION, "5:26.1.4-1~debian.12"],
            "docker-ce-cli": ["5:27.3.1-1~debian.12~bookworm", DOCKER_VERSION],
        }
    )
    pins = {"docker-ce": "26.1.5", "docker-ce-cli": "26.1.5"}
    run = packages_run(run_op, machine, pins=pins)
    words = shlex.split(run.commands[0])
    assert "docker-ce=5:26.1.5-1~debian.12~bookworm" in words
    assert "docker-ce-cli=5:26.1.5-1~debian.12~bookworm" in words
    assert {"containerd.io", "docker-buildx-plugin", "docker-compose-plugin"} <= set(words)


def test_an_unknown_version_is_refused_listing_the_available_ones(run_op):
    machine = fresh_machine(
        candidates={"docker-ce": ["5:27.3.1-1~debian.12~bookworm", DOCKER_VERSION]}
    )
    run = packages_run(run_op, machine, pins={"docker-ce": "25.0.9"}, host_name="ci3")
    assert len(run.commands) == 1 and run.commands[0].endswith("exit 1")
    assert run.refusal == (
        "ci3: docker_version 25.0.9 is not in the repository for docker-ce; available: "
        f"5:27.3.1-1~debian.12~bookworm, {DOCKER_VERSION}."
    )


def test_a_pin_without_a_repository_says_so(run_op):
    run = packages_run(run_op, fresh_machine(), pins={"docker-ce": "26.1.5"})
    assert "none (is the repository configured?)" in run.refusal


def test_an_installed_version_other_than_the_pin_is_replaced(run_op):
    machine = converged_machine()
    machine.packages["docker-ce"] = ("ii", "5:27.3.1-1~debian.12~bookworm")
    run = packages_run(run_op, machine, pins={"docker-ce": "26.1.5"})
    words = shlex.split(run.commands[0])
    assert words[-1] == f"docker-ce={DOCKER_VERSION}"
    assert "--allow-downgrades" in words


def test_hold_follows_the_install(run_op):
    run = packages_run(run_op, fresh_machine(), holds=["docker-ce", "docker-ce-cli"])
    assert len(run.commands) == 2
    assert is_apt_get(run.commands[0], *DEFAULT_PACKAGES)
    assert run.commands[1] == "apt-mark hold docker-ce docker-ce-cli"


def held(*names: str):
    """A converged host with ``names`` held at the version they have."""
    machine = converged_machine()
    for name in names:
        machine.packages[name] = ("hi", machine.packages[name][1])
    return machine


# a host with its packages in place: facts in, then the apt-mark commands or none out
HOLDS = [
    pytest.param(
        held(),
        {"holds": ["docker-ce", "docker-ce-cli"]},
        ["apt-mark hold docker-ce docker-ce-cli"],
        id="hold-alone-when-in-place",
    ),
    pytest.param(
        held("docker-ce", "docker-ce-cli"),
        {"pins": {"docker-ce": "26.1.5"}, "holds": ["docker-ce", "docker-ce-cli"]},
        [],
        id="held-as-wanted",
    ),
    pytest.param(held("docker-ce"), {}, ["apt-mark unhold docker-ce"], id="unheld-when-not-wanted"),
]


@pytest.mark.parametrize(("machine", "kwargs", "commands"), HOLDS)
def test_holds(run_op, machine, kwargs, commands):
    assert packages_run(run_op, machine, **kwargs).commands == commands


REPAIR = [
    apt_ops.dpkg_configure_pending(300),
    apt_ops.apt_get(300, "install", "--fix-broken"),
]


def repair_run(run_op, machine):
    sets = [["docker.io", "runc"], ["ca-certificates", "curl"], list(DEFAULT_PACKAGES)]
    return run_op(apt_ops.dpkg_repaired, machine, package_sets=sets)


def interrupted():
    machine = converged_machine()
    machine.dpkg_interrupted = True
    return machine


@pytest.mark.parametrize(
    ("machine", "commands"),
    [
        pytest.param(converged_machine(), [], id="finished-dpkg-needs-no-repair"),
        # repaired even when the packages look fine
        pytest.param(interrupted(), REPAIR, id="interrupted-dpkg-is-repaired"),
    ],
)
def test_dpkg_repaired(run_op, machine, commands):
    assert repair_run(run_op, machine).commands == commands


@pytest.mark.parametrize("status", ["iU", "iF", "iH"], ids=["unpacked", "half-conf", "half-inst"])
def test_packages_dpkg_did_not_finish_are_repaired_then_reinstalled(run_op, status):
    machine = converged_machine()
    machine.packages["curl"] = (status, "7.88.1-10")
    machine.packages["containerd.io"] = (status, "1.7.19-1")
    assert repair_run(run_op, machine).commands == REPAIR
    [command] = packages_run(run_op, machine).commands
    assert is_apt_get(command, "containerd.io")


def fake_dpkg(tmp_path, script: str) -> dict:
    """A PATH whose ``dpkg`` runs ``script`` (its calls are counted in ``calls``)."""
    (tmp_path / "dpkg").write_text(f"#!/bin/sh\necho x >> {tmp_path}/calls\n{script}\n")
    (tmp_path / "dpkg").chmod(0o755)
    return {"PATH": f"{tmp_path}:/usr/bin:/bin"}


def test_configure_pending_waits_for_the_dpkg_lock(tmp_path):
    env = fake_dpkg(
        tmp_path,
        f'[ "$(wc -l < {tmp_path}/calls)" -ge 3 ] && exit 0\n'
        'echo "dpkg: error: dpkg frontend lock was locked by another process" >&2; exit 2',
    )
    done = subprocess.run(["sh", "-c", apt_ops.dpkg_configure_pending(30)], env=env, text=True)
    assert done.returncode == 0
    assert (tmp_path / "calls").read_text().count("x") == 3


def test_configure_pending_gives_up_after_the_bound_or_on_other_errors(tmp_path):
    env = fake_dpkg(tmp_path, 'echo "dpkg: error: dpkg frontend lock is locked" >&2; exit 2')
    run = subprocess.run(
        ["sh", "-c", apt_ops.dpkg_configure_pending(0)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 1 and "lock is locked" in run.stderr
    env = fake_dpkg(tmp_path, 'echo "dpkg: error: parsing file /var/lib/dpkg/status" >&2; exit 2')
    run = subprocess.run(
        ["sh", "-c", apt_ops.dpkg_configure_pending(30)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 1 and "parsing file" in run.stderr


@pytest.mark.parametrize("status", ["iW", "it"], ids=["trig-await", "trig-pend"])
def test_packages_with_pending_triggers_count_as_installed(run_op, status):
    machine = converged_machine()
    machine.packages["containerd.io"] = (status, "1.7.19-1")
    assert packages_run(run_op, machine).commands == []


def test_a_removed_package_with_its_configuration_left_is_installed(run_op):
    machine = converged_machine()
    machine.packages["docker-ce"] = ("rc", DOCKER_VERSION)
    [command] = packages_run(run_op, machine).commands
    assert is_apt_get(command, "docker-ce")


def test_latest_upgrades_unpinned_packages_to_the_candidate(run_op):
    machine = converged_machine()
    machine.policy = {
        "docker-ce": "5:27.3.1-1~debian.12~bookworm",
        "docker-ce-cli": "5:27.3.1-1~debian.12~bookworm",
        "docker-compose-plugin": "2.30.3-1~debian.12~bookworm",
    }
    run = run_op(
        apt_ops.docker_packages,
        machine,
        packages=list(DEFAULT_PACKAGES),
        pins={"docker-ce": "26.1.5", "docker-ce-cli": "26.1.5"},
        holds=[],
        latest=True,
    )
    assert len(run.commands) == 1
    assert is_apt_get(run.commands[0], "docker-compose-plugin")  # pinned ones stay


def test_latest_when_everything_is_the_candidate_is_a_noop(run_op):
    run = run_op(
        apt_ops.docker_packages,
        converged_machine(),
        packages=list(DEFAULT_PACKAGES),
        pins={},
        holds=[],
        latest=True,
    )
    assert run.commands == []


def test_present_does_not_look_for_newer_versions(run_op):
    machine = converged_machine()
    machine.policy = {"docker-ce": "5:27.3.1-1~debian.12~bookworm"}
    assert packages_run(run_op, machine).commands == []
    assert "PolicyCandidates" not in [name for name, _ in machine.calls]


# group_members ------------------------------------------------------------------------------


GROUP_MEMBERS = [
    pytest.param(
        fresh_machine(),
        ["alice", "root"],
        ["groupadd --system docker", "usermod -aG docker alice", "usermod -aG docker root"],
        id="group-created-users-added",
    ),
    pytest.param(
        fresh_machine(group={"alice"}, users={"alice", "bob"}),
        ["alice", "bob"],
        ["usermod -aG docker bob"],
        id="only-non-members-added",
    ),
    pytest.param(fresh_machine(group={"alice"}), ["alice"], [], id="members-in-place"),
    pytest.param(fresh_machine(group={"alice"}), [], [], id="group-in-place-no-users"),
]


@pytest.mark.parametrize(("machine", "users", "commands"), GROUP_MEMBERS)
def test_group_members(run_op, machine, users, commands):
    run = run_op(ops.group_members, machine, group="docker", users=users)
    assert run.commands == commands


def test_a_user_that_does_not_exist_is_refused(run_op):
    run = run_op(
        ops.group_members, fresh_machine(), host_name="web2", group="docker", users=["ghost"]
    )
    assert run.commands[0].endswith("exit 1") and len(run.commands) == 1
    assert run.refusal == (
        "web2: docker_users names ghost, but no such user exists on the host; "
        "create the user first or remove it."
    )


# service ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kwargs", "commands"),
    [
        (("active", "enabled"), {}, []),
        (
            ("inactive", "disabled"),
            {},
            ["systemctl enable docker", "systemctl reset-failed docker; systemctl start docker"],
        ),
        (("failed", "enabled"), {}, ["systemctl reset-failed docker; systemctl start docker"]),
        (
            ("inactive", ""),
            {},
            ["systemctl enable docker", "systemctl reset-failed docker; systemctl start docker"],
        ),
        (
            ("active", "enabled"),
            {"restart_after": [changed(True)]},
            ["systemctl reset-failed docker; systemctl restart docker"],
        ),
        (
            ("active", "enabled"),
            {"restart_after": [done(True)]},
            ["systemctl reset-failed docker; systemctl restart docker"],
        ),
        (("active", "enabled"), {"restart_after": [done(False)]}, []),
        (
            ("inactive", "enabled"),
            {"restart_after": [done(True)]},
            ["systemctl reset-failed docker; systemctl start docker"],
        ),
        (
            ("active", "enabled"),
            {"running": False, "restart_after": [done(True)]},
            ["systemctl stop docker"],
        ),
        (("active", "enabled"), {"running": False}, ["systemctl stop docker"]),
        (
            ("inactive", "enabled"),
            {"running": False, "enabled": False},
            ["systemctl disable docker"],
        ),
        (("active", "disabled"), {"enabled": False}, []),
    ],
)
def test_service(run_op, state, kwargs, commands):
    machine = FakeMachine(services={"docker": state})
    run = run_op(ops.service, machine, unit="docker", **kwargs)
    assert run.commands == commands
    assert bool(run.noops) == (not commands)


# daemon_json --------------------------------------------------------------------------------


def test_daemon_json_is_stable():
    first = {"log-opts": {"max-size": "10m", "max-file": "3"}, "debug": False, "dns": ["1.1.1.1"]}
    second = dict(reversed(list(first.items())))
    second["log-opts"] = {"max-file": "3", "max-size": "10m"}
    text = daemon.daemon_json(first)
    assert text == daemon.daemon_json(second)
    assert text.endswith("}\n")
    assert json.loads(text) == first
    assert list(json.loads(text)) == ["debug", "dns", "log-opts"]
    assert text.index('"max-file"') < text.index('"max-size"')


def test_apt_get_is_unattended():
    command = apt_ops.apt_get(30, "install", "docker-ce")
    assert shlex.split(command) == [
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "-q",
        "-y",
        "-o",
        "DPkg::Lock::Timeout=30",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
        "install",
        "docker-ce",
    ]
