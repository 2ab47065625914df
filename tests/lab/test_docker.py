"""The Docker deploy end to end on fresh lab hosts, proven by the verification suite."""

from __future__ import annotations

import pytest

from provision.docker.deploy import KEYRING, SOURCES, STALE_PATHS

from .conftest import SUITES, apply, check, failures, sh, uninstall

HOSTS = sorted(SUITES)


@pytest.fixture(scope="module")
def fresh(lab):
    """Both hosts reset to their base, then converged by one apply."""
    for host in HOSTS:
        lab.reset(host)
    result = apply(*HOSTS)
    return result


def test_fresh_hosts_converge(fresh):
    assert fresh.ok, {name: r.error for name, r in fresh.hosts.items()}
    for host in HOSTS:
        assert fresh.hosts[host].status == "changed"
        assert "Install Docker packages" in fresh.hosts[host].changed


def test_verification_passes_with_a_container_run(fresh):
    result = check(*HOSTS)
    for host in HOSTS:
        assert failures(result, host) == [], host
        ids = {c.id for c in result.hosts[host].checks}
        assert {"test_container_runs", "test_daemon_reachable", "test_signing_key"} <= ids


def test_second_apply_changes_nothing(fresh, lab):
    stamps = {h: sh(lab, h, "stat -c %Y /var/lib/apt/lists/partial").stdout for h in HOSTS}
    result = apply(*HOSTS)
    assert result.ok
    for host in HOSTS:
        assert result.hosts[host].status == "unchanged", result.hosts[host].changed
        assert result.hosts[host].changed_operations == 0
        # no apt-get update ran: apt's lists directory was not touched
        assert sh(lab, host, "stat -c %Y /var/lib/apt/lists/partial").stdout == stamps[host]


def test_drift_is_caught_by_verify_and_repaired_by_apply(fresh, lab):
    sh(
        lab,
        "lab1",
        f"sudo chmod 0600 {KEYRING} && sudo sed -i 's/^Suites: .*/Suites: sid/' {SOURCES}"
        f" && sudo chmod 0666 {SOURCES}"
        " && sudo systemctl stop docker.socket docker",
    )
    caught = {c.id for c in check("lab1").hosts["lab1"].checks if not c.passed}
    expected = {"test_signing_key", "test_sources_file", "test_no_world_writable_paths"}
    assert expected | {"test_service[docker]"} <= caught
    repaired = apply("lab1")
    assert repaired.ok, repaired.hosts["lab1"].error
    changed = set(repaired.hosts["lab1"].changed)
    assert {"Install Docker's signing key", "Add Docker's apt repository", "docker service"} <= (
        changed
    )
    assert failures(check("lab1"), "lab1") == []


def test_daemon_json_change_restarts_docker_once(fresh, lab):
    options = {"log-driver": "json-file", "log-opts": {"max-size": "10m"}}
    before = sh(lab, "lab2", "systemctl show -p MainPID --value docker").stdout.strip()
    first = apply("lab2", docker_daemon_options=options)
    assert first.ok and "docker service" in first.hosts["lab2"].changed
    restarted = sh(lab, "lab2", "systemctl show -p MainPID --value docker").stdout.strip()
    assert restarted != before
    assert "json-file" in sh(lab, "lab2", "sudo docker info --format '{{.LoggingDriver}}'").stdout
    second = apply("lab2", docker_daemon_options=options)
    assert second.hosts["lab2"].status == "unchanged"
    assert sh(lab, "lab2", "systemctl show -p MainPID --value docker").stdout.strip() == restarted
    assert failures(check("lab2", docker_daemon_options=options), "lab2") == []


def test_pin_hold_then_upgrade(fresh, lab):
    versions = lab.state["repo"]["versions"]["bookworm"]
    old = min(versions, key=lambda v: [int(p) for p in v.split(":")[1].split("-")[0].split(".")])
    old_upstream = old.split(":")[1].split("-")[0]
    pinned = apply("lab1", docker_version=old_upstream, docker_hold=True)
    assert pinned.ok, pinned.hosts["lab1"].error
    installed = sh(lab, "lab1", "dpkg-query -W -f='${Version}' docker-ce").stdout
    assert installed == old
    assert "docker-ce" in sh(lab, "lab1", "apt-mark showhold").stdout.split()
    assert failures(check("lab1", docker_version=old_upstream, docker_hold=True), "lab1") == []
    assert (
        apply("lab1", docker_version=old_upstream, docker_hold=True).hosts["lab1"].status
        == "unchanged"
    )
    # unpinned, "present" keeps what is installed; "latest" upgrades (as geerlingguy.docker)
    kept = apply("lab1")
    assert kept.ok and sh(lab, "lab1", "dpkg-query -W -f='${Version}' docker-ce").stdout == old
    upgraded = apply("lab1", docker_packages_state="latest")
    assert upgraded.ok, upgraded.hosts["lab1"].error
    assert sh(lab, "lab1", "dpkg-query -W -f='${Version}' docker-ce").stdout != old
    assert sh(lab, "lab1", "apt-mark showhold").stdout.strip() == ""
    assert failures(check("lab1"), "lab1") == []


def test_unknown_version_is_refused_with_the_available_ones(fresh, lab):
    before = sh(lab, "lab1", "dpkg-query -W -f='${Version}' docker-ce").stdout
    result = apply("lab1", docker_version="19.3.99")
    assert result.hosts["lab1"].status == "failed"
    assert "docker-ce 19.3.99 (it has 5:" in result.hosts["lab1"].error
    assert result.hosts["lab1"].changed == []  # refused before any package changed
    assert sh(lab, "lab1", "dpkg-query -W -f='${Version}' docker-ce").stdout == before


def test_wrong_fingerprint_stops_with_nothing_written(lab):
    lab.reset("lab2")
    wrong = "0123456789ABCDEF0123456789ABCDEF01234567"
    result = apply("lab2", docker_gpg_fingerprint=wrong)
    host = result.hosts["lab2"]
    assert host.status == "failed"
    assert wrong in host.error and lab.state["repo"]["fingerprint"] in host.error
    assert sh(lab, "lab2", f"ls {KEYRING} {SOURCES}", check=False).returncode != 0
    assert sh(lab, "lab2", "sudo apt-get -q update", check=False).returncode == 0


def test_host_with_old_packages_and_stale_sources_converges(lab):
    lab.reset("lab1")
    key = lab.state["repo"]["url"] + "/debian/gpg"
    image, reference = lab.state["image"]["url"], lab.state["image"]["reference"]
    repo = lab.state["repo"]["url"] + "/debian"
    fetch = "python3 -c 'import sys,urllib.request;urllib.request.urlretrieve(*sys.argv[1:])'"
    sh(
        lab,
        "lab1",
        (
            "sudo DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends "
            "docker.io containerd runc >/dev/null && "
            f"{fetch} {key} /tmp/old.asc && {fetch} {image} /tmp/hello.tar && "
            "sudo cp /tmp/old.asc /etc/apt/trusted.gpg.d/docker.asc && "
            "sudo cp /tmp/old.asc /usr/share/keyrings/docker-archive-keyring.gpg && "
            "sudo install -d -m 0755 /etc/apt/keyrings && "
            "sudo cp /tmp/old.asc /etc/apt/keyrings/docker.gpg && "
            f"echo 'deb [arch=amd64 signed-by=/usr/share/keyrings/docker-archive-keyring.gpg] "
            f"{repo} bookworm stable' | sudo tee /etc/apt/sources.list.d/docker.list >/dev/null && "
            f"echo 'deb [signed-by=/etc/apt/keyrings/docker.gpg] {repo} bookworm stable' "
            "| sudo tee /etc/apt/sources.list.d/download_docker_com_debian.list >/dev/null && "
            f"echo 'deb [arch=amd64] {repo} bookworm stable' | sudo tee -a /etc/apt/sources.list "
            ">/dev/null && "
            f"sudo docker load -i /tmp/hello.tar >/dev/null && "
            f"sudo docker run -d --name old {reference} sleep 3600 >/dev/null"
        ),
    )
    assert "old" in sh(lab, "lab1", "sudo docker ps --format '{{.Names}}'").stdout
    assert sh(lab, "lab1", "dpkg -s docker.io", check=False).returncode == 0
    sources_list = sh(lab, "lab1", "cat /etc/apt/sources.list").stdout
    result = apply("lab1")
    assert result.ok, result.hosts["lab1"].error
    # docker.io left in the transaction that installed Docker's packages
    install = next(
        c for c in result.hosts["lab1"].changes if c["operation"] == "Install Docker packages"
    )
    assert "remove docker.io: " in " ".join(install["changes"])
    status = "dpkg-query -W -f='${db:Status-Abbrev}' docker.io"
    assert sh(lab, "lab1", status, check=False).stdout[:2] != "ii"
    assert "Remove stale Docker sources and keys" in result.hosts["lab1"].changed
    # removed, not purged: the images of the old engine are still there for the new one
    assert sh(lab, "lab1", f"sudo docker image inspect {reference}", check=False).returncode == 0
    assert failures(check("lab1"), "lab1") == []
    assert sh(lab, "lab1", "sudo apt-get -q update 2>&1").stdout.count("Conflicting") == 0
    stale = sh(lab, "lab1", "ls -d " + " ".join(STALE_PATHS), check=False)
    assert stale.stdout == "" and stale.returncode != 0
    # the Docker line of sources.list is commented out, the rest kept byte for byte
    line = f"deb [arch=amd64] {repo} bookworm stable\n"
    assert sh(lab, "lab1", "cat /etc/apt/sources.list").stdout == sources_list.replace(
        line, "# " + line
    )
    assert sh(lab, "lab1", "stat -c '%a %U' /etc/apt/sources.list").stdout == "644 root\n"
    assert apply("lab1").hosts["lab1"].status == "unchanged"


def test_uninstall_keeps_var_lib_docker(lab):
    """Without docker_purge_data the packages go and the images, containers and volumes stay."""
    result = uninstall("lab1")
    assert result.ok, result.hosts["lab1"].error
    status = "dpkg-query -W -f='${db:Status-Abbrev}' docker-ce"
    assert sh(lab, "lab1", status, check=False).stdout[:2] != "ii"
    assert sh(lab, "lab1", "sudo ls -A /var/lib/docker/containers").stdout.strip()  # "old"
    assert sh(lab, "lab1", "sudo ls -A /var/lib/docker/image").stdout.strip()  # its image


def test_uninstall_leaves_docker_absent(lab):
    result = uninstall("lab1", docker_purge_data=True)
    assert result.ok, result.hosts["lab1"].error
    assert sh(lab, "lab1", f"ls {KEYRING} {SOURCES}", check=False).returncode != 0
    assert sh(lab, "lab1", "sudo ls -A /var/lib/docker").stdout.strip() == ""
    verified = check("lab1")
    ids = {c.id for c in verified.hosts["lab1"].checks if not c.passed}
    assert {"test_packages_installed", "test_signing_key", "test_daemon_reachable"} <= ids
    assert uninstall("lab1", docker_purge_data=True).hosts["lab1"].status == "unchanged"
