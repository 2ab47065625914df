"""Rootless Docker on lab hosts: a user without sudo or the docker group runs a container."""

from __future__ import annotations

import pytest

from provision.docker.deploy import install_docker, uninstall_docker
from provision.docker.rootless_layout import USER_UNIT
from provision.orchestrate.run import run_deploy

from .conftest import SUITES, apply, check, failures, fleet, sh, uninstall

HOSTS = sorted(SUITES)
USER = "builder"
ROOTLESS = {"docker_rootless_users": [USER]}


def as_builder(lab, host: str, command: str):
    """``command`` as the rootless user, against the user's own daemon."""
    uid = sh(lab, host, f"id -u {USER}").stdout.strip()
    env = f"XDG_RUNTIME_DIR=/run/user/{uid} DOCKER_HOST=unix:///run/user/{uid}/docker.sock"
    return sh(lab, host, f"cd / && sudo runuser -u {USER} -- env {env} {command}", check=False)


def fresh_with_user(lab, host: str) -> None:
    """``host`` reset to its base, with a user that has no subordinate ids."""
    lab.reset(host)
    # useradd gives new users ranges itself; without them the deploy must add them
    sh(lab, host, f"sudo useradd -m -s /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 {USER}")
    assert sh(lab, host, f"grep -c ^{USER}: /etc/subuid", check=False).stdout.strip() == "0"


def runs_the_lab_image(lab, host: str) -> None:
    reference, url = lab.state["image"]["reference"], lab.state["image"]["url"]
    load = as_builder(lab, host, f"sh -c 'curl -fsS {url} | docker load'")
    assert load.returncode == 0, (host, load.stderr)
    ran = as_builder(lab, host, f"docker run --rm {reference}")
    assert ran.returncode == 0, (host, ran.stderr)
    assert lab.state["image"]["output"] in ran.stdout


def reported(result, host: str) -> dict[str, list[str]]:
    """What the change report says of each operation of ``host``, which must name every
    operation that changed (or would change), in order."""
    found = result.hosts[host]
    assert [change["operation"] for change in found.changes] == found.changed
    assert all(change["changes"] != ["changed"] for change in found.changes), found.changes
    return {change["operation"]: change["changes"] for change in found.changes}


def test_a_dry_run_with_rootless_users_reports_every_operation_that_would_change(lab):
    fresh_with_user(lab, "lab2")
    result = run_deploy(fleet("lab2", **ROOTLESS), install_docker, "apply", dry=True)
    assert result.ok, result.hosts["lab2"].error
    said = reported(result, "lab2")
    assert said["Subordinate ids for rootless Docker"] == [
        f"add id ranges for {USER} to /etc/subuid",
        f"add id ranges for {USER} to /etc/subgid",
    ]
    assert said["Rootless Docker services"] == [
        f"let {USER}'s services run without a login (enable-linger)",
        f"enable {USER}'s rootless Docker",
        f"start {USER}'s rootless Docker",
    ]
    assert sh(lab, "lab2", f"grep -c ^{USER}: /etc/subuid", check=False).stdout.strip() == "0"


@pytest.fixture(scope="module")
def rootless(lab):
    """Fresh hosts with a user that has no subordinate ids, converged with rootless Docker."""
    for host in HOSTS:
        fresh_with_user(lab, host)
    return apply(*HOSTS, **ROOTLESS)


def test_rootless_user_runs_a_container(rootless, lab):
    assert rootless.ok, {name: r.error for name, r in rootless.hosts.items()}
    reference = lab.state["image"]["reference"]
    for host in HOSTS:
        for path in ("/etc/subuid", "/etc/subgid"):
            line = sh(lab, host, f"grep ^{USER}: {path}").stdout.split(":")
            assert int(line[2]) >= 65536, (host, path, line)
        assert sh(lab, host, f"test -e /var/lib/systemd/linger/{USER}", check=False).returncode == 0
        info = as_builder(lab, host, "docker info --format '{{json .SecurityOptions}}'")
        assert "name=rootless" in info.stdout, (host, info.stderr)
        runs_the_lab_image(lab, host)
        # the container ran in the user's daemon, not the system one
        system = sh(lab, host, f"sudo docker image inspect {reference}", check=False)
        assert system.returncode != 0, host


def test_the_user_is_not_in_the_docker_group(rootless, lab):
    for host in HOSTS:
        assert "docker" not in sh(lab, host, f"id -Gn {USER}").stdout.split()
        denied = as_builder(lab, host, "env DOCKER_HOST=unix:///var/run/docker.sock docker ps")
        assert denied.returncode != 0 and "permission denied" in denied.stderr.lower()


def test_verification_runs_a_container_as_the_user(rootless):
    result = check(*HOSTS, **ROOTLESS)
    for host in HOSTS:
        assert failures(result, host) == [], host
        assert "test_rootless_users" in {c.id for c in result.hosts[host].checks}


def test_second_apply_changes_nothing(rootless, lab):
    main_pid = "systemctl --user show -p MainPID --value docker.service"
    pids = {host: as_builder(lab, host, main_pid).stdout for host in HOSTS}
    result = apply(*HOSTS, **ROOTLESS)
    assert result.ok
    for host in HOSTS:
        assert result.hosts[host].status == "unchanged", result.hosts[host].changed
        assert result.hosts[host].changed_operations == 0
        assert as_builder(lab, host, main_pid).stdout == pids[host] != "0\n"


def test_a_missing_user_is_refused_before_any_change(rootless, lab):
    before = sh(lab, "lab1", "sudo md5sum /etc/subuid /etc/subgid").stdout
    result = apply("lab1", docker_rootless_users=[USER, "nobody-here"])
    host = result.hosts["lab1"]
    assert host.status == "failed"
    assert "nobody-here" in host.error and "docker_rootless_users" in host.error
    assert host.changed == []
    assert sh(lab, "lab1", "sudo md5sum /etc/subuid /etc/subgid").stdout == before


def test_the_older_release_runs_rootless_too(lab):
    """Docker 20.10's extras (Debian 12's rootlesskit 1.1 and docker.io's scripts), pinned."""
    oldest = lab.state["repo"]["versions"]["bookworm"][0]
    pinned = {**ROOTLESS, "docker_version": oldest}
    fresh_with_user(lab, "lab1")
    result = apply("lab1", **pinned)
    assert result.ok, result.hosts["lab1"].error
    extras = sh(lab, "lab1", "dpkg-query -W -f='${Version}' docker-ce-rootless-extras").stdout
    assert extras == oldest
    server = as_builder(lab, "lab1", "docker version --format '{{.Server.Version}}'")
    assert server.stdout.startswith("20.10."), server.stderr
    runs_the_lab_image(lab, "lab1")
    assert failures(check("lab1", **pinned), "lab1") == []
    assert apply("lab1", **pinned).hosts["lab1"].status == "unchanged"


def test_uninstall_stops_and_disables_the_users_daemon(lab):
    """On lab1 as the test above left it (installing it again if run alone)."""
    pinned = {**ROOTLESS, "docker_version": lab.state["repo"]["versions"]["bookworm"][0]}
    if sh(lab, "lab1", f"id -u {USER}", check=False).returncode != 0:
        fresh_with_user(lab, "lab1")
    assert apply("lab1", **pinned).ok
    active = "systemctl --user is-active docker.service"
    assert as_builder(lab, "lab1", active).stdout.strip() == "active"
    planned = run_deploy(fleet("lab1", **pinned), uninstall_docker, "uninstall", dry=True)
    stop = reported(planned, "lab1")["Stop rootless Docker services"]
    assert stop == [f"stop and disable {USER}'s rootless Docker"]
    assert as_builder(lab, "lab1", active).stdout.strip() == "active"  # a dry run stops nothing
    result = uninstall("lab1", **pinned)
    assert result.ok, result.hosts["lab1"].error
    assert reported(result, "lab1")["Stop rootless Docker services"] == stop
    assert list(reported(result, "lab1")) == list(reported(planned, "lab1"))
    assert as_builder(lab, "lab1", active).stdout.strip() != "active"
    enabled = as_builder(lab, "lab1", "systemctl --user is-enabled docker.service").stdout
    assert enabled.strip() != "enabled"
    assert sh(lab, "lab1", f"pgrep -u {USER} -f dockerd", check=False).returncode == 1
    assert sh(lab, "lab1", f"test -e {USER_UNIT}", check=False).returncode == 1
    assert uninstall("lab1", **pinned).hosts["lab1"].status == "unchanged"
