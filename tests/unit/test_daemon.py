"""daemon.json, the proxy drop-in and apt's proxy, from settings and the installed engine."""

from __future__ import annotations

import json

import pytest

from provision.core.errors import SettingsError
from provision.docker import daemon
from provision.docker import operations as ops
from provision.docker.layout import APT_PROXY, DAEMON_JSON, PROXY_DROPIN
from provision.docker.validation import from_host_data

from .fakes import DOCKER_VERSION, FakeMachine, converged_machine

OLD_ENGINE = "5:20.10.24-1~debian.12~bookworm"
PROXY = {"http": "http://proxy.internal:3128", "https": "http://u:p%40ss@proxy.internal:3128"}


def test_defaults_rotate_the_logs_of_json_file():
    assert daemon.daemon_config(from_host_data({}), DOCKER_VERSION) == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
    }


@pytest.mark.parametrize(
    ("data", "opts"),
    [
        ({"docker_log_driver": "local"}, {"max-size": "10m", "max-file": "3"}),
        ({"docker_log_driver": "journald"}, None),  # journald takes no max-size
        ({"docker_log_driver": "journald", "docker_log_opts": {"tag": "x"}}, {"tag": "x"}),
        ({"docker_log_opts": {}}, None),
    ],
)
def test_log_options_follow_the_driver(data, opts):
    config = daemon.daemon_config(from_host_data(data), DOCKER_VERSION)
    assert config.get("log-opts") == opts


def test_every_setting_lands_in_daemon_json_and_the_users_options_win():
    settings = from_host_data(
        {
            "docker_registry_mirrors": ["https://m1.internal", "https://m2.internal"],
            "docker_insecure_registries": ["registry.internal:5000", "10.0.0.0/8"],
            "docker_data_root": "/srv/docker",
            "docker_proxy": {**PROXY, "no_proxy": ["localhost", ".internal"]},
            "docker_daemon_options": {"log-driver": "local", "debug": True},
        }
    )
    assert daemon.daemon_config(settings, DOCKER_VERSION) == {
        "log-driver": "local",
        "log-opts": {"max-size": "10m", "max-file": "3"},
        "registry-mirrors": ["https://m1.internal", "https://m2.internal"],
        "insecure-registries": ["registry.internal:5000", "10.0.0.0/8"],
        "data-root": "/srv/docker",
        "proxies": {
            "http-proxy": PROXY["http"],
            "https-proxy": PROXY["https"],
            "no-proxy": "localhost,.internal",
        },
        "debug": True,
    }


@pytest.mark.parametrize(
    ("version", "in_json"),
    [
        (OLD_ENGINE, False),
        ("5:22.06.0~beta.0-0~debian-bullseye", False),
        ("5:23.0.0-1~debian.12~bookworm", True),
        (DOCKER_VERSION, True),
        (None, True),  # not installed yet: the repository's engines are new
    ],
)
def test_proxies_go_to_daemon_json_from_engine_23_and_to_a_dropin_before(version, in_json):
    settings = from_host_data({"docker_proxy": PROXY})
    assert ("proxies" in daemon.daemon_config(settings, version)) is in_json
    dropin = daemon.proxy_dropin(settings, version)
    assert (dropin is None) is in_json
    if dropin:
        assert dropin == (
            "[Service]\n"
            'Environment="HTTP_PROXY=http://proxy.internal:3128"\n'
            'Environment="HTTPS_PROXY=http://u:p%%40ss@proxy.internal:3128"\n'  # systemd's %%
        )


def test_apt_proxy_conf():
    assert daemon.apt_proxy_conf(from_host_data({})) is None
    assert daemon.apt_proxy_conf(from_host_data({"apt_proxy": "http://p.internal:3142"})) == (
        'Acquire::http::Proxy "http://p.internal:3142";\n'
        'Acquire::https::Proxy "http://p.internal:3142";\n'
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"docker_proxy": {"ftp": "x"}}, "docker_proxy knows http, https and no_proxy, not ftp"),
        ({"docker_proxy": {"http": "proxy:3128"}}, "docker_proxy['http'] must be an http"),
        ({"docker_proxy": {"no_proxy": "a b"}}, "docker_proxy['no_proxy'] must list"),
        ({"docker_proxy": "http://p"}, "docker_proxy must be a mapping"),
        ({"apt_proxy": "http://p'x"}, "apt_proxy must be an http(s):// URL without quotes"),
        ({"docker_registry_mirrors": ["mirror"]}, "docker_registry_mirrors must be an http"),
        ({"docker_insecure_registries": ["a b"]}, "docker_insecure_registries must hold"),
        ({"docker_data_root": "srv/docker"}, "docker_data_root must be an absolute path"),
        ({"docker_data_root": "/srv/$HOME"}, "docker_data_root must be an absolute path"),
        ({"docker_log_driver": "json file"}, "docker_log_driver must be a log driver's name"),
        ({"docker_log_opts": {"max-size": 10}}, "docker_log_opts must map option names"),
        ({"docker_data_root_force": "yes"}, "docker_data_root_force must be true or false"),
    ],
)
def test_bad_daemon_settings_are_named(data, problem):
    with pytest.raises(SettingsError, match="^web1: ") as raised:
        from_host_data(data, "web1")
    assert problem in str(raised.value)


# the operations -----------------------------------------------------------------------------


def test_the_dropin_follows_the_engine_installed_when_the_operation_runs(run_op):
    settings = from_host_data({"docker_proxy": PROXY, "docker_version": "20.10.24"})
    machine = converged_machine(settings)
    machine.packages["docker-ce"] = ("ii", OLD_ENGINE)
    run = run_op(ops.proxy_dropin_file, machine, settings=settings)
    assert run.commands[0].endswith(f"mv -f {PROXY_DROPIN}.provision-tmp {PROXY_DROPIN}")
    machine.packages["docker-ce"] = ("ii", DOCKER_VERSION)
    machine.files[PROXY_DROPIN] = ("644", "root:root", b"[Service]\n")
    assert run_op(ops.proxy_dropin_file, machine, settings=settings).commands == [
        f"rm -f {PROXY_DROPIN}"
    ]


def test_daemon_json_is_written_for_the_installed_engine(run_op):
    settings = from_host_data({"docker_proxy": PROXY})
    machine = converged_machine()
    run = run_op(ops.daemon_config_file, machine, settings=settings)
    assert len(run.commands) == 1 and DAEMON_JSON in run.commands[0]
    machine.packages["docker-ce"] = ("ii", OLD_ENGINE)
    old = run_op(ops.daemon_config_file, machine, settings=settings)
    assert old.commands == []  # no proxies in daemon.json for the old engine: nothing to add


def test_the_apt_proxy_file_is_removed_with_the_setting(run_op):
    machine = FakeMachine(files={APT_PROXY: ("644", "root:root", b"Acquire::http::Proxy")})
    run = run_op(ops.file_content, machine, path=APT_PROXY, content=None)
    assert run.commands == [f"rm -f {APT_PROXY}"]


def with_data(machine: FakeMachine, images: int, root: str = "/var/lib/docker") -> FakeMachine:
    machine.docker_data = (root, images, 0, 0)
    return machine


@pytest.mark.parametrize(
    ("images", "force", "refused"), [(0, False, False), (2, False, True), (2, True, False)]
)
def test_a_new_data_root_is_refused_while_the_old_one_holds_data(run_op, images, force, refused):
    settings = from_host_data({"docker_data_root": "/srv/docker", "docker_data_root_force": force})
    run = run_op(ops.data_root_free, with_data(converged_machine(), images), settings=settings)
    assert (run.refusal is not None) is refused
    if refused:
        assert run.refusal == (
            "web1: docker_data_root is /srv/docker, but the current data root /var/lib/docker "
            "holds 2 images, 0 containers, 0 volumes, which would not move along; move them "
            "first, or set docker_data_root_force to start empty (nothing is deleted)."
        )


def test_an_unchanged_data_root_needs_no_docker_info(run_op):
    settings = from_host_data({"docker_data_root": "/srv/docker"})
    machine = with_data(converged_machine(settings), 5, "/srv/docker")
    run = run_op(ops.data_root_free, machine, settings=settings)
    assert run.commands == [] and "DockerData" not in [name for name, _ in machine.calls]
    assert json.loads(machine.files[DAEMON_JSON][2])["data-root"] == "/srv/docker"
