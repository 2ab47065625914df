"""Version pins and an upgrade without live restore, on a real host: ``docker_version: 26.1``
installs the newest 26.1.x, the whole release ``26.1.5`` then changes nothing, and ``28.5``
upgrades; a container with a restart policy comes back after the daemon's restart, one
without stays stopped but kept."""

from __future__ import annotations

from .conftest import apply, check, failures, sh

STATE = "sudo docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' "


def versions(lab) -> tuple[str, str, str]:
    """docker-ce and docker-ce-cli as dpkg has them, and the running daemon's version."""
    query = "dpkg-query -W -f='${Version} ' docker-ce docker-ce-cli"
    ce, cli = sh(lab, "lab1", query).stdout.split()
    running = sh(lab, "lab1", "sudo docker version -f '{{.Server.Version}}'").stdout.strip()
    return ce, cli, running.partition("+")[0]  # the stand-in's dockerd says 28.5.2+dfsg4


def test_release_pins_then_an_upgrade_brings_back_containers_with_a_restart_policy(lab):
    lab.reset("lab1")
    first = apply("lab1", docker_version="26.1")
    assert first.ok, first.hosts["lab1"].error
    ce, cli, running = versions(lab)
    assert ce.startswith("5:26.1.5-") and cli == ce and running == "26.1.5"
    assert apply("lab1", docker_version="26.1.5").hosts["lab1"].status == "unchanged"

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
    assert started[0] == "true"

    upgrade = apply("lab1", docker_version="28.5")  # live restore is off by default
    host = upgrade.hosts["lab1"]
    assert upgrade.ok, host.error
    ce, cli, running = versions(lab)
    assert ce.startswith("5:28.5.2-") and cli == ce and running == "28.5.2"
    packages = [p for c in host.changes for p in c.get("packages", ())]
    engine = next(p for p in packages if p["name"] == "docker-ce")
    assert (engine["action"], engine["to"]) == ("upgrade", ce) and "26.1.5" in engine["from"]
    after = sh(lab, "lab1", STATE + "policy").stdout.split()
    assert after[0] == "true" and after[1] != started[1]  # restarted by the new daemon
    plain = sh(lab, "lab1", STATE + "plain").stdout.split()
    assert plain[0] == "false"  # no restart policy: stopped with the old daemon, still there
    assert failures(check("lab1", docker_version="28.5"), "lab1") == []
    assert apply("lab1", docker_version="28.5").hosts["lab1"].status == "unchanged"
