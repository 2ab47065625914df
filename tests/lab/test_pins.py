"""Version pins, an upgrade without live restore and a rollback, on a real host.

``docker_version: 26.1`` installs the newest 26.1.x and the whole release ``26.1.5`` then
changes nothing. Rolling out ``28.5`` (live restore off) upgrades the engine, and apt moves
containerd.io along; a container with a restart policy comes back after the daemon's restart,
one without stays stopped but kept. A forced verification failure rolls back every package
the upgrade moved to its version before, but containerd.io, which crossed a major release and
is kept (said so): the container with a restart policy comes back on it."""

from __future__ import annotations

import functools

from provision.docker.deploy import install_docker
from provision.docker.dpkg import compare_versions
from provision.docker.pins import previous_versions, release
from provision.orchestrate.rollout import roll_out
from provision.verify.run import Check, verify

from .conftest import apply, check, failures, fleet, sh

BY_VERSION = functools.cmp_to_key(compare_versions)
STATE = "sudo docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' "
QUERY = "dpkg-query -W -f='${Package} ${Version}\\n' docker-ce docker-ce-cli containerd.io"


def installed(lab) -> dict[str, str]:
    """The versions dpkg has, and the running daemon's (``dockerd``)."""
    found = dict(line.split() for line in sh(lab, "lab1", QUERY).stdout.splitlines())
    running = sh(lab, "lab1", "sudo docker version -f '{{.Server.Version}}'").stdout.strip()
    return {**found, "dockerd": running.partition("+")[0]}  # the stand-in says 28.5.2+dfsg4


def test_release_pins_an_upgrade_without_live_restore_and_a_rollback_of_every_package(lab):
    lab.reset("lab1")
    first = apply("lab1", docker_version="26.1")
    assert first.ok, first.hosts["lab1"].error
    engine = installed(lab)
    assert engine["docker-ce"].startswith("5:26.1.5-") and engine["dockerd"] == "26.1.5"
    assert engine["docker-ce-cli"] == engine["docker-ce"]
    assert apply("lab1", docker_version="26.1.5").hosts["lab1"].status == "unchanged"

    # containerd.io at the suite's own build, older than 28.5 asks for
    offered = sh(lab, "lab1", "apt-cache madison containerd.io").stdout.splitlines()
    versions = sorted((line.split("|")[1].strip() for line in offered), key=BY_VERSION)
    old = {"docker_version": "26.1.5", "docker_package_versions": {"containerd.io": versions[0]}}
    assert apply("lab1", **old).ok
    before = installed(lab)
    assert before["containerd.io"] == versions[0]

    image, reference = lab.state["image"]["url"], lab.state["image"]["reference"]
    fetch = "python3 -c 'import sys,urllib.request;urllib.request.urlretrieve(*sys.argv[1:])'"
    sh(
        lab,
        "lab1",
        f"{fetch} {image} /tmp/hello.tar && sudo docker load -i /tmp/hello.tar >/dev/null && "
        f"sudo docker run -d --restart unless-stopped --name policy {reference} sleep 3600 "
        f">/dev/null && sudo docker run -d --name plain {reference} sleep 3600 >/dev/null",
    )
    started = sh(lab, "lab1", STATE + "policy").stdout.split()
    seen = {}

    def gate(part):
        """The real verification; after the upgrade (its first call) what the upgrade left is
        recorded and a failure forced, after the rollback it is the verification alone."""
        checked = verify(part)
        if seen:
            return checked
        seen.update(installed(lab))
        seen["policy"] = sh(lab, "lab1", STATE + "policy").stdout.split()
        seen["plain"] = sh(lab, "lab1", STATE + "plain").stdout.split()
        seen["verified"] = not checked.hosts["lab1"].failed
        checked.hosts["lab1"].checks.append(Check("forced", False, "forced failure"))
        return checked

    rollout = roll_out(
        fleet("lab1", docker_version="28.5"), install_docker, gate, 1, rollback=previous_versions
    )
    host = rollout.hosts["lab1"]
    # the upgrade: 28.5.2, containerd.io moved along, the restart policy obeyed
    assert seen["docker-ce"].startswith("5:28.5.2-") and seen["dockerd"] == "28.5.2", seen
    assert compare_versions(seen["containerd.io"], before["containerd.io"]) > 0, seen
    assert seen["policy"][0] == "true" and seen["policy"][1] != started[1], seen
    assert seen["plain"][0] == "false" and seen["verified"], seen  # stopped with the old daemon
    assert host.downtime_s is not None and host.downtime_s > 0, host
    # the rollback: every package the upgrade moved back to its version before, but
    # containerd.io, which the upgrade took across a major release (1.x -> 2.x): kept, said so
    moved = ("docker-ce", "docker-ce-cli", "containerd.io")
    assert host.packages_from == {name: before[name] for name in moved}, host
    assert release(seen["containerd.io"]) != release(before["containerd.io"]), seen
    assert list(host.kept) == ["containerd.io"], host
    assert host.kept["containerd.io"].startswith(f"kept at {seen['containerd.io']}: "), host
    assert host.restored == {n: before[n] for n in moved[:2]} and host.rollback == "passed", host
    assert installed(lab) == {**before, "containerd.io": seen["containerd.io"]}
    # /var/lib/docker kept through both; the container with a restart policy came back with
    # the older engine on the kept containerd, the other stayed stopped
    names = sh(lab, "lab1", "sudo docker ps -a --format '{{.Names}}'").stdout.split()
    assert sorted(names) == ["plain", "policy"]
    assert sh(lab, "lab1", STATE + "policy").stdout.split()[0] == "true"
    assert sh(lab, "lab1", STATE + "plain").stdout.split()[0] == "false"

    upgrade = apply("lab1", docker_version="28.5")
    assert upgrade.ok, upgrade.hosts["lab1"].error
    assert installed(lab)["dockerd"] == "28.5.2"
    assert failures(check("lab1", docker_version="28.5"), "lab1") == []
    assert apply("lab1", docker_version="28.5").hosts["lab1"].status == "unchanged"
