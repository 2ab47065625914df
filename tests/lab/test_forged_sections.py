"""A CI runner user who prints forged fact sections from every file of theirs that root's
commands could run: ``~/.bash_profile``, Docker CLI plugins (one shadowing buildx) and a Docker
CLI config with an alias and hooks. The apply still converges, nothing of root's changes, and
none of those files ever ran."""

from __future__ import annotations

import base64
import json
import shlex

import pytest

from provision.core.snapshot import MARK
from provision.docker.rootless import SUBID_COUNT, SUBID_START

from .conftest import INVENTORY, provision, sh

HOST = "lab2"
USER = "runner"
HOME = f"/home/{USER}"
RAN = "/var/tmp/forger-ran"  # each bait file appends its name here when it runs
CANARIES = ("/etc/provision-canary", f"{HOME}/canary")
PROFILE = ("--profile", "ci-runner", "--data", "ci_runner_rootless=true", "--limit", HOST)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forged_lines() -> str:
    """Sections that would make root write ``runner:0:1`` into the id files, remove the
    canaries and see a rootless daemon running: in this framing, the one before it, and as the
    rootless fact's own lines."""
    root_range = b64(f"{USER}:0:1" + "\n")
    subuid = f"644 root:root\n{root_range}\n"
    paths = "".join(f"{path}\n" for path in CANARIES)
    lines = []
    for index in range(80):
        payload = b64(subuid if index % 2 else paths)
        lines.append(f"{MARK} {index} {len(payload)} {payload}")
        lines += [f"=====provision-fact-{index}", *(subuid if index % 2 else paths).splitlines()]
    lines.append(f"{b64(USER)} 0 yes {b64('active')} {b64('enabled')}")
    lines.append("=====provision-probe AAAA")
    return "\n".join(lines) + "\n"


def bait(name: str) -> str:
    """A script that records that it ran, answers as a CLI plugin, and prints the forgeries."""
    metadata = '{"SchemaVersion":"0.1.0","Vendor":"forger","ShortDescription":"forges"}'
    return (
        f"echo {shlex.quote(name)} >>{RAN}\n"
        f'[ "$1" = docker-cli-plugin-metadata ] && echo {shlex.quote(metadata)}\n'
        f"cat {HOME}/forged\n"
    )


def plant(lab) -> None:
    """The runner user, made before the profile, with the bait in their home."""
    config = {
        "aliases": {"builder": "xyz"},
        "features": {"hooks": "true"},
        "plugins": {"xyz": {"hooks": "buildx,info,run,version"}},
    }
    files = {
        ".bash_profile": bait("bash_profile"),
        ".profile": bait("profile"),
        ".bashrc": bait("bashrc"),
        ".docker/cli-plugins/docker-xyz": "#!/bin/sh\n" + bait("plugin docker-xyz"),
        ".docker/cli-plugins/docker-buildx": "#!/bin/sh\n" + bait("plugin docker-buildx"),
        ".docker/config.json": json.dumps(config),
        "forged": forged_lines(),
        "canary": "keep me\n",
    }
    script = [
        f"useradd --create-home --shell /bin/bash {USER}",
        f"mkdir -p {HOME}/.docker/cli-plugins",
        f"echo 'keep me' >{CANARIES[0]}",
        *[f"printf '%s' {shlex.quote(content)} >{HOME}/{path}" for path, content in files.items()],
        f"chmod 755 {HOME}/.docker/cli-plugins/*",
        f"chown -R {USER}: {HOME}",
        f": >{RAN} && chmod 666 {RAN}",
    ]
    sh(lab, HOST, "sudo sh -c " + shlex.quote(" && ".join(script)))


def run(command: str, report) -> dict:
    result = provision(command, "-i", INVENTORY, *PROFILE, "--report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(report.read_text())["hosts"][HOST]


@pytest.fixture(scope="module")
def forger(lab, tmp_path_factory):
    lab.reset(HOST)
    plant(lab)
    return lab, run("apply", tmp_path_factory.mktemp("forged") / "apply.json")


def test_the_apply_converges_and_root_wrote_its_own_id_ranges(forger, tmp_path):
    lab, report = forger
    assert report["status"] == "changed", report
    ids = {path: sh(lab, HOST, f"cat {path}").stdout for path in ("/etc/subuid", "/etc/subgid")}
    for text in ids.values():
        ranges = [line.split(":") for line in text.splitlines()]
        assert all(int(start) >= SUBID_START for _, start, _ in ranges), text
        mine = [int(count) for name, _, count in ranges if name == USER]
        assert len(mine) == 1 and mine[0] >= SUBID_COUNT, text
    assert run("apply", tmp_path / "again.json")["status"] == "unchanged"
    assert {path: sh(lab, HOST, f"cat {path}").stdout for path in ids} == ids


def test_no_file_was_removed_and_verify_passes(forger, tmp_path):
    lab, _ = forger
    for path in CANARIES:
        assert sh(lab, HOST, f"sudo cat {path}").stdout == "keep me\n"
    checks = run("verify", tmp_path / "verify.json")
    assert checks["failed"] == 0 and checks["passed"] >= 25


def test_none_of_the_users_files_ran_and_each_would_have_in_a_login(forger):
    lab, _ = forger
    assert sh(lab, HOST, f"cat {RAN}").stdout == ""
    # the bait works: a login shell runs the profile, the user's own docker runs the plugins
    own = f"DOCKER_HOST=unix:///run/user/$(id -u {USER})/docker.sock docker"
    sh(lab, HOST, f"sudo runuser -l {USER} -c {shlex.quote(f'{own} buildx ls')}", check=False)
    ran = sh(lab, HOST, f"cat {RAN}").stdout.splitlines()
    assert "bash_profile" in ran and "plugin docker-buildx" in ran
