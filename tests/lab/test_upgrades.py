"""Engine upgrades across a fleet on real hosts: 26.1 -> 28.5 on four hosts in batches of two
with the verification between them, a container running throughout with live restore, and a
forced verification failure in the second batch rolled back to 26.1 and verified."""

from __future__ import annotations

import pytest

from provision.docker.deploy import install_docker
from provision.docker.pins import previous_versions
from provision.orchestrate.rollout import roll_out
from provision.verify.run import Check, verify

from .conftest import apply, fleet, sh

HOSTS = ("lab1", "lab2", "lab3", "lab4")
OLD, NEW = "26.1.5", "28.5.2"
LIVE = {"docker_live_restore": True}
KEEP = "sudo docker inspect -f '{{.State.Running}} {{.State.Pid}} {{.State.StartedAt}}' keep"


@pytest.fixture(scope="module")
def hosts(lab):
    """Four fresh hosts (bookworm and trixie) on 26.1 with live restore, each running a
    user's container."""
    lab.up(len(HOSTS), ["bookworm", "trixie"])
    for name in HOSTS:
        lab.reset(name)
    result = apply(*HOSTS, docker_version=OLD, **LIVE)
    assert result.ok, {n: h.error for n, h in result.hosts.items() if h.error}
    image, reference = lab.state["image"]["url"], lab.state["image"]["reference"]
    fetch = "python3 -c 'import sys,urllib.request;urllib.request.urlretrieve(*sys.argv[1:])'"
    for name in HOSTS:
        sh(
            lab,
            name,
            f"{fetch} {image} /tmp/hello.tar && sudo docker load -i /tmp/hello.tar >/dev/null && "
            f"sudo docker run -d --name keep {reference} sleep 3600 >/dev/null",
        )
    return {name: sh(lab, name, KEEP).stdout for name in HOSTS}


def engines(lab) -> dict[str, tuple[str, str]]:
    """Per host: the installed docker-ce and the version the running daemon reports."""
    found = {}
    for name in HOSTS:
        installed = sh(lab, name, "dpkg-query -W -f='${Version}' docker-ce").stdout
        running = sh(lab, name, "sudo docker version -f '{{.Server.Version}}'").stdout.strip()
        # the stand-in's dockerd says Debian's version (28.5.2+dfsg4)
        found[name] = (installed.partition(":")[2].partition("-")[0], running.partition("+")[0])
    return found


def test_a_rolling_upgrade_rolls_a_failed_batch_back_and_keeps_containers(lab, hosts):
    calls = []

    def gate(part):
        """The real verification; the second batch's first one is made to fail."""
        checked = verify(part)
        calls.append(sorted(checked.hosts))
        if len(calls) == 2:
            for name in checked.hosts:
                checked.hosts[name].checks.append(Check("forced", False, "forced failure"))
        return checked

    rollout = roll_out(
        fleet(*HOSTS, docker_version=NEW, **LIVE),
        install_docker,
        gate,
        2,
        rollback=previous_versions,
    )
    states = {name: host.state for name, host in rollout.hosts.items()}
    errors = {name: host.error for name, host in rollout.hosts.items()}
    assert states == {"lab1": "done", "lab2": "done", "lab3": "failed", "lab4": "failed"}, errors
    assert calls == [["lab1", "lab2"], ["lab3", "lab4"], ["lab3", "lab4"]]
    for name, host in rollout.hosts.items():
        assert NEW in host.engine_to and OLD in host.engine_from, (name, host)
        assert host.downtime_s is not None and 0 < host.downtime_s < 60, (name, host)
    for name in ("lab3", "lab4"):
        host = rollout.hosts[name]
        assert (OLD in host.rolled_back_to, host.rollback) == (True, "passed"), host
        assert set(host.packages_from) >= {"docker-ce", "docker-ce-cli"}, host
        assert set(host.kept) <= {"containerd.io"}, host  # kept only across its major release
        back = {n: v for n, v in host.packages_from.items() if n not in host.kept}
        assert host.restored == back, host  # each other one back where it was
    assert "rolled back to their previous versions: lab3, lab4" in rollout.notes
    assert engines(lab) == {
        "lab1": (NEW, NEW),
        "lab2": (NEW, NEW),
        "lab3": (OLD, OLD),
        "lab4": (OLD, OLD),
    }
    # live restore: the same container process ran through the upgrade and the downgrade
    assert {name: sh(lab, name, KEEP).stdout for name in HOSTS} == hosts

    again = roll_out(fleet(*HOSTS, docker_version=NEW, **LIVE), install_docker, verify, 2)
    applied = {name: (host.state, host.apply) for name, host in again.hosts.items()}
    assert applied == {
        "lab1": ("done", "unchanged"),
        "lab2": ("done", "unchanged"),
        "lab3": ("done", "changed"),
        "lab4": ("done", "changed"),
    }
    assert {name: running for name, (_, running) in engines(lab).items()} == dict.fromkeys(
        HOSTS, NEW
    )
    assert {name: sh(lab, name, KEEP).stdout for name in HOSTS} == hosts
