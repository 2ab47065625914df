"""Daemon settings on a real dockerd: proxies through a real proxy server (tinyproxy, from
Debian's archive), registry mirrors, insecure registries, log rotation, the data root and the
socket unit. Each takes effect as ``docker info`` reports it, and a rerun changes nothing."""

from __future__ import annotations

import json

import pytest

from provision.docker.layout import DAEMON_JSON, PROXY_DROPIN

from .conftest import apply, check, debian_docker_with_container, failures, sh, tinyproxy


@pytest.fixture(scope="module")
def proxy(lab, tmp_path_factory):
    """tinyproxy on the lab bridge, logging every request."""
    with tinyproxy(lab, tmp_path_factory.mktemp("proxy")) as running:
        yield running


def docker_info(lab, host: str) -> dict:
    return json.loads(sh(lab, host, "sudo docker info --format '{{json .}}'").stdout)


def test_a_fresh_host_installs_and_pulls_through_the_proxy(lab, proxy):
    lab.reset("lab2")
    settings = {"apt_proxy": proxy.url, "docker_proxy": {"http": proxy.url, "https": proxy.url}}
    result = apply("lab2", **settings)
    assert result.ok, result.hosts["lab2"].error
    repo, gateway, port = lab.state["repo"]["url"], lab.config.gateway, lab.config.repo_port
    asked = proxy.requests()
    assert f"GET {repo}/debian/gpg HTTP/1.1" in asked  # the key, fetched by apt-helper
    assert f"GET {repo}/debian/dists/trixie/InRelease HTTP/1.1" in asked  # apt
    pool = f"GET {repo}/debian/dists/trixie/pool/stable/amd64/docker-ce_"
    assert any(request.startswith(pool) for request in asked)  # the packages
    info = docker_info(lab, "lab2")
    assert (info["HttpProxy"], info["HttpsProxy"]) == (proxy.url, proxy.url)
    config = json.loads(sh(lab, "lab2", f"cat {DAEMON_JSON}").stdout)
    assert config["proxies"] == {"http-proxy": proxy.url, "https-proxy": proxy.url}
    sh(lab, "lab2", f"sudo docker pull {gateway}:{port}/provision/absent:1", check=False)
    assert f"CONNECT {gateway}:{port} HTTP/1.1" in proxy.requests()  # the daemon's own fetch
    assert failures(check("lab2", **settings), "lab2") == []
    assert apply("lab2", **settings).hosts["lab2"].status == "unchanged"


def test_an_engine_before_23_gets_its_proxy_from_a_systemd_dropin(lab, proxy):
    settings = {"docker_version": "20.10.24", "docker_proxy": {"http": proxy.url}}
    first = apply("lab1", **settings)
    assert first.ok, first.hosts["lab1"].error
    assert "Reload systemd units" in first.hosts["lab1"].changed
    assert sh(lab, "lab1", f"cat {PROXY_DROPIN}").stdout == (
        f'[Service]\nEnvironment="HTTP_PROXY={proxy.url}"\n'
    )
    assert "proxies" not in json.loads(sh(lab, "lab1", f"cat {DAEMON_JSON}").stdout)
    info = docker_info(lab, "lab1")
    assert info["ServerVersion"].startswith("20.10.") and info["HttpProxy"] == proxy.url
    assert failures(check("lab1", **settings), "lab1") == []
    assert apply("lab1", **settings).hosts["lab1"].status == "unchanged"
    back = apply("lab1")  # no pin, no proxy: the drop-in goes and the daemon forgets the proxy
    assert back.ok, back.hosts["lab1"].error
    assert sh(lab, "lab1", f"ls {PROXY_DROPIN}", check=False).returncode != 0
    assert docker_info(lab, "lab1")["HttpProxy"] == ""
    assert failures(check("lab1"), "lab1") == []


def test_mirrors_insecure_registries_and_log_rotation_reach_the_daemon(lab):
    settings = {
        "docker_registry_mirrors": ["https://mirror.example.internal"],
        "docker_insecure_registries": [f"{lab.config.gateway}:5000", "10.99.0.0/16"],
        "docker_log_opts": {"max-size": "5m", "max-file": "2"},
        "docker_daemon_options": {"log-opts": {"max-size": "1m", "max-file": "4"}},  # it wins
    }
    first = apply("lab1", **settings)
    assert first.ok and "docker service" in first.hosts["lab1"].changed
    registry = docker_info(lab, "lab1")["RegistryConfig"]
    assert [m.rstrip("/") for m in registry["Mirrors"]] == ["https://mirror.example.internal"]
    assert registry["IndexConfigs"][f"{lab.config.gateway}:5000"]["Secure"] is False
    assert "10.99.0.0/16" in registry["InsecureRegistryCIDRs"]
    assert failures(check("lab1", **settings), "lab1") == []  # also loads the lab's image
    reference = lab.state["image"]["reference"]
    created = sh(lab, "lab1", f"sudo docker create {reference}").stdout.strip()
    inspect = "sudo docker inspect --format '{{json .HostConfig.LogConfig}}' "
    logged = sh(lab, "lab1", inspect + created)
    sh(lab, "lab1", f"sudo docker rm {created}")
    assert json.loads(logged.stdout) == {
        "Type": "json-file",
        "Config": {"max-size": "1m", "max-file": "4"},
    }
    assert apply("lab1", **settings).hosts["lab1"].status == "unchanged"


def test_a_new_data_root_is_refused_while_the_old_one_holds_data(lab):
    assert docker_info(lab, "lab1")["Images"] >= 1  # the verification's image
    before = sh(lab, "lab1", f"cat {DAEMON_JSON}").stdout
    refused = apply("lab1", docker_data_root="/srv/data/docker")
    error = refused.hosts["lab1"].error
    assert refused.hosts["lab1"].status == "failed"
    assert error.startswith(
        "lab1: docker_data_root is /srv/data/docker, but the current data root /var/lib/docker "
        "holds 1 image"
    )
    assert "docker_data_root_force" in error and "\n" not in error
    assert sh(lab, "lab1", f"cat {DAEMON_JSON}").stdout == before
    moved = apply("lab1", docker_data_root="/srv/data/docker", docker_data_root_force=True)
    assert moved.ok, moved.hosts["lab1"]
    assert docker_info(lab, "lab1")["DockerRootDir"] == "/srv/data/docker"
    assert sh(lab, "lab1", "sudo ls /var/lib/docker/image").returncode == 0  # nothing deleted
    assert failures(check("lab1", docker_data_root="/srv/data/docker"), "lab1") == []
    back = apply("lab1", docker_data_root_force=True)
    assert back.ok and docker_info(lab, "lab1")["DockerRootDir"] == "/var/lib/docker"


def test_the_socket_unit_is_stopped_and_started_with_docker(lab):
    stopped = {"docker_service_state": "stopped", "docker_service_enabled": False}
    result = apply("lab1", **stopped)
    assert result.ok, result.hosts["lab1"].error
    states = sh(lab, "lab1", "systemctl is-active docker.socket docker containerd", check=False)
    assert states.stdout.split() == ["inactive", "inactive", "inactive"]
    enabled = sh(lab, "lab1", "systemctl is-enabled docker.socket docker", check=False)
    assert enabled.stdout.split() == ["disabled", "disabled"]
    started = apply("lab1")
    assert started.ok, started.hosts["lab1"].error
    states = sh(lab, "lab1", "systemctl is-active docker.socket docker containerd")
    assert states.stdout.split() == ["active", "active", "active"]
    assert failures(check("lab1"), "lab1") == []


DEBIAN_DOCKER = "docker.io docker-cli docker-buildx docker-compose"


@pytest.mark.parametrize("pin", ["20.10.24", None], ids=["older-pin", "unpinned"])
def test_debian_13s_own_docker_packages_give_way(lab, pin):
    """trixie ships Docker as docker.io, docker-cli, docker-buildx and docker-compose."""
    lab.reset("lab2")
    debian_docker_with_container(lab, "lab2", DEBIAN_DOCKER)
    data = {"docker_version": pin} if pin else {}
    result = apply("lab2", **data)
    assert result.ok, result.hosts["lab2"].error
    # Debian's packages left in the transaction that installed Docker's
    install = next(
        c for c in result.hosts["lab2"].changes if c["operation"] == "Install Docker packages"
    )
    removed = " ".join(install["changes"])
    assert all(f"remove {name}: " in removed for name in DEBIAN_DOCKER.split()), removed
    left = sh(lab, "lab2", f"dpkg-query -W -f='${{db:Status-Abbrev}}\\n' {DEBIAN_DOCKER}")
    assert all(status[1] != "i" for status in left.stdout.split("\n") if status)
    assert failures(check("lab2", **data), "lab2") == []
    assert apply("lab2", **data).hosts["lab2"].status == "unchanged"


@pytest.fixture(autouse=True, scope="module")
def _lab1_ready(lab):
    """A fresh lab1 installed with the defaults, before this module's tests change it."""
    lab.reset("lab1")
    result = apply("lab1")
    assert result.ok, result.hosts["lab1"].error
