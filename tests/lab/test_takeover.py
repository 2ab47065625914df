"""Nothing of the user's lost, on real hosts: a repository that cannot serve the host is found
out before any change, and the user's Docker (Debian's docker.io, with a running container)
stays as it was; a daemon.json written by hand is backed up and its keys are kept."""

from __future__ import annotations

import json
import shutil

import pytest

from provision.orchestrate.run import run_deploy
from provision.profiles.ci_runner.deploy import install_ci_runner
from provision_lab.repo import write_variant

from .conftest import apply, check, debian_docker_with_container, failures, fleet, sh

KEYRING = "/etc/apt/keyrings/docker.asc"
SOURCES = "/etc/apt/sources.list.d/docker.sources"
DAEMON = "/etc/docker/daemon.json"
DEBIAN_DOCKER = "docker.io docker-cli"


@pytest.fixture(scope="module")
def users_docker(lab):
    """lab2 (trixie) running Debian's docker.io with the user's container ``old``."""
    lab.reset("lab2")
    debian_docker_with_container(lab, "lab2", DEBIAN_DOCKER)
    return lab


def variant(lab, name: str, **options) -> str:
    """Serve a variant of the lab repository's trixie suite; its ``docker_repo_url``."""
    www = lab.config.www_dir
    write_variant(
        (www / "linux" / "debian").resolve(),
        www / "variants" / name / "debian",
        "trixie",
        **options,
    )
    return f"http://{lab.config.gateway}:{lab.config.repo_port}/variants/{name}"


def host_state(lab) -> tuple[str, str, str]:
    """Installed packages, Docker's apt files, running containers: what must not change."""
    packages = sh(lab, "lab2", "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n'")
    files = sh(lab, "lab2", f"ls {KEYRING} {SOURCES} 2>&1; true")
    running = sh(lab, "lab2", "sudo docker ps --format '{{.Names}} {{.Status}}'")
    return packages.stdout, files.stdout, running.stdout.split(" ")[0]


def signing(lab, tmp_path) -> dict:
    """A private copy of the lab's signing key (the lab's own agent is left alone)."""
    home = tmp_path / "gnupg"
    shutil.copytree(
        lab.config.cache_dir / "gnupg", home, ignore=shutil.ignore_patterns("S.*", "*.lock")
    )
    home.chmod(0o700)
    return {"gnupghome": home, "fingerprint": lab.state["repo"]["fingerprint"]}


def test_a_suite_without_docker_ce_is_refused_before_any_change(users_docker, tmp_path):
    lab = users_docker
    url = variant(lab, "no-docker-ce", without=("docker-ce",), **signing(lab, tmp_path))
    before = host_state(lab)
    assert before[2] == "old" and "docker.io" in before[0]
    result = apply("lab2", docker_repo_url=url)
    host = result.hosts["lab2"]
    assert host.status == "failed" and host.changed == []
    assert host.error.startswith(
        f"lab2: Docker's repository {url}/debian trixie for amd64 lacks docker-ce; "
        "set docker_codename to a suite that has them"
    )
    assert host_state(lab) == before  # docker.io installed, the container running, no key


def test_a_repository_apt_cannot_verify_fails_in_apts_words(users_docker, tmp_path):
    lab = users_docker
    url = variant(lab, "unsigned")
    before = host_state(lab)
    result = apply("lab2", docker_repo_url=url)
    host = result.hosts["lab2"]
    assert host.status == "failed" and host.changed == []
    assert host.error.startswith(f"lab2: apt cannot use Docker's repository {url}/debian trixie")
    assert f"E: The repository '{url}/debian trixie Release' is not signed." in host.error
    assert host_state(lab) == before


def test_a_ci_runner_host_whose_preflight_fails_is_left_as_it_was(users_docker, tmp_path):
    """The CI runner profile makes its user only after the preflight passed."""
    lab = users_docker
    url = variant(lab, "no-docker-ce-runner", without=("docker-ce",), **signing(lab, tmp_path))
    before = host_state(lab)
    result = run_deploy(fleet("lab2", docker_repo_url=url), install_ci_runner, "apply")
    host = result.hosts["lab2"]
    assert host.status == "failed" and host.changed == [] and host.operations == 0
    assert "lacks docker-ce" in host.error and "nothing was changed" in host.error
    assert host_state(lab) == before  # docker.io, the container; no key, no sources
    assert sh(lab, "lab2", "getent passwd runner", check=False).returncode == 2  # no user
    assert sh(lab, "lab2", "test -e /home/runner", check=False).returncode == 1


def test_docker_io_goes_in_the_apt_transaction_that_installs_docker_ce(users_docker):
    """The takeover itself: Debian's docker.io and its helpers leave in the same apt
    transaction that brings Docker's packages; the user's container and image stay."""
    lab = users_docker
    assert "docker.io" in host_state(lab)[0]
    result = apply("lab2")
    assert result.ok, result.hosts["lab2"].error
    installed = sh(lab, "lab2", "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n'").stdout
    assert "docker-ce ii" in installed and "docker.io ii" not in installed
    history = sh(lab, "lab2", "cat /var/log/apt/history.log").stdout.split("\n\n")
    takeover = [entry for entry in history if "docker.io-" in entry]
    assert len(takeover) == 1, history  # one apt-get, which installs and removes
    lines = dict(line.split(": ", 1) for line in takeover[0].strip().splitlines())
    assert "docker-ce:amd64" in lines["Install"] and "docker.io:amd64" in lines["Remove"]
    assert not [
        entry for entry in history if "Commandline: apt-get" in entry and " remove " in entry
    ]
    names = sh(lab, "lab2", "sudo docker ps -a --format '{{.Names}}'").stdout.split()
    assert "old" in names  # the user's container, kept in /var/lib/docker
    sh(lab, "lab2", "sudo docker start old >/dev/null")
    assert sh(lab, "lab2", "sudo docker inspect -f '{{.State.Running}}' old").stdout == "true\n"
    assert failures(check("lab2"), "lab2") == []
    assert apply("lab2").hosts["lab2"].status == "unchanged"


FOREIGN = (
    '{"bip": "172.26.0.1/16", "dns": ["10.0.0.2"],\n'
    ' "default-address-pools": [{"base": "172.27.0.0/16", "size": 24}]}\n'
)


def test_a_foreign_daemon_json_is_backed_up_and_its_keys_kept(lab):
    """A daemon.json someone wrote by hand before Docker came: backed up, kept, obeyed."""
    lab.reset("lab1")
    sh(lab, "lab1", f"sudo install -d /etc/docker && printf %s '{FOREIGN}' | sudo tee {DAEMON}")
    result = apply("lab1")
    assert result.ok, result.hosts["lab1"].error
    backups = sh(lab, "lab1", f"ls {DAEMON}.provision-backup-*").stdout.split()
    assert len(backups) == 1
    assert sh(lab, "lab1", f"cat {backups[0]}").stdout == FOREIGN
    written = json.loads(sh(lab, "lab1", f"cat {DAEMON}").stdout)
    assert {k: written[k] for k in ("bip", "dns", "default-address-pools")} == json.loads(FOREIGN)
    assert written["log-driver"] == "json-file"  # the settings' keys too
    gateway = "{{(index .IPAM.Config 0).Gateway}}"
    assert sh(lab, "lab1", f"sudo docker network inspect bridge -f '{gateway}'").stdout.strip() == (
        "172.26.0.1"
    )
    subnet = "{{(index .IPAM.Config 0).Subnet}}"
    made = sh(
        lab,
        "lab1",
        f"sudo docker network create pool >/dev/null && "
        f"sudo docker network inspect pool -f '{subnet}'",
    ).stdout.strip()
    assert made.startswith("172.27.") and made.endswith("/24")
    assert failures(check("lab1"), "lab1") == []
    again = apply("lab1")
    assert again.hosts["lab1"].status == "unchanged", again.hosts["lab1"].changed
    assert sh(lab, "lab1", f"ls {DAEMON}.provision-backup-*").stdout.split() == backups
