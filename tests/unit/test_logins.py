"""Logins in URLs reach hosts through root-only files, written from standard input only."""

from __future__ import annotations

import base64
import os
import subprocess

import pytest
from pyinfra.api import DeployError

from provision.docker import daemon, logins
from provision.docker import operations as ops
from provision.docker.deploy import APT_PROXY_LOGIN, DOCKER_LOGIN, KEYRING
from provision.docker.descriptions import _file
from provision.docker.distro import Target
from provision.docker.facts import download_input, rm_scratch, scratch_apt
from provision.docker.layout import docker_repository
from provision.docker.validation import from_host_data

from .fakes import DOCKER_KEY, FakeMachine, converged_machine, written

PROXY = "http://puser:s3cret%40x@proxy.internal:3128"
REPO = "https://me:t0ken@mirror.internal/docker/linux"


def test_apt_gets_the_proxy_without_its_login_and_the_login_in_auth_conf():
    settings = from_host_data({"apt_proxy": PROXY})
    conf = daemon.apt_proxy_conf(settings)
    assert "s3cret" not in conf and '"http://proxy.internal:3128"' in conf
    assert daemon.apt_proxy_login(settings) == (
        "machine http://proxy.internal:3128\nlogin puser\npassword s3cret@x\n"
    )
    assert daemon.apt_proxy_login(from_host_data({"apt_proxy": "http://p:3128"})) is None


def test_the_repository_login_goes_to_auth_conf_and_not_into_the_sources():
    repository = docker_repository(from_host_data({"docker_repo_url": REPO}), "debian", "x", "y")
    assert "t0ken" not in repository.sources() and "me@" not in repository.sources()
    assert "URIs: https://mirror.internal/docker/linux/debian\n" in repository.sources()
    assert repository.login_path == DOCKER_LOGIN
    assert repository.login == (
        "machine https://mirror.internal/docker/linux/debian\nlogin me\npassword t0ken\n"
    )


@pytest.mark.parametrize("url", ["http://a%20b:pw@p:1", "http://u:p%09w@p:1", "http://:pw@p:1"])
def test_a_login_apt_cannot_read_is_refused_in_settings(url):
    with pytest.raises(Exception, match="apt_proxy carries a login apt cannot use"):
        from_host_data({"apt_proxy": url})


def test_apts_proxy_configuration_holds_no_login():
    assert logins.proxy_conf(PROXY) == (
        'Acquire::http::Proxy "http://proxy.internal:3128";\n'
        'Acquire::https::Proxy "http://proxy.internal:3128";\n'
    )
    assert logins.proxy_conf(None) is None


def test_the_key_download_carries_no_login_or_proxy_on_its_command_line(run_op):
    url = "https://me:t0ken@mirror.internal/docker/linux/debian/gpg"
    machine = FakeMachine(urls={url: DOCKER_KEY})
    seen = []
    real = machine.fact

    def fact(cls, *args, **kwargs):
        if cls.__name__ == "Download":
            seen.append((cls().command(url=kwargs["url"]), kwargs.get("_stdin")))
        return real(cls, *args, **kwargs)

    machine.fact = fact
    run = run_op(
        ops.signing_key, machine, path=KEYRING, url=url, fingerprint=FINGERPRINT, proxy=PROXY
    )
    assert written(run.commands) == DOCKER_KEY
    ((command, stdin),) = seen
    assert "t0ken" not in command and "s3cret" not in command and "curl" not in command
    assert "apt-helper " in command and " download-file " in command
    assert "https://mirror.internal/docker/linux/debian/gpg" in command
    assert stdin == download_input(url, PROXY)
    config, logins_ = (base64.b64decode(line).decode() for line in stdin.splitlines())
    assert config == logins.proxy_conf(PROXY)
    assert logins_ == logins.auth_conf(PROXY) + logins.auth_conf(url)


@pytest.mark.skipif(os.geteuid() != 0, reason="the scratch files are chown'ed to root")
def test_the_scratch_state_gets_apts_configuration_and_logins_root_only_from_stdin():
    url = "https://me:t0ken@mirror.internal/docker/linux/debian/gpg"
    show = (
        'stat -c "%a %U %n" auth.conf.d apt.conf auth.conf.d/zz-provision.conf && '
        "cat apt.conf auth.conf.d/zz-provision.conf"
    )
    command = f"{scratch_apt()} && {show}; {rm_scratch()}"
    done = subprocess.run(
        ["sh", "-c", command], input=download_input(url, PROXY), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "700 root auth.conf.d\n600 root apt.conf\n600 root auth.conf.d/zz-provision.conf\n"
        + logins.proxy_conf(PROXY)
        + logins.auth_conf(PROXY)
        + logins.auth_conf(url)
    )


def test_login_files_are_root_only_and_fixed_on_rerun(run_op):
    login = daemon.apt_proxy_login(from_host_data({"apt_proxy": PROXY}))
    machine = converged_machine()
    machine.files[APT_PROXY_LOGIN] = ("644", "root:root", login.encode())
    run = run_op(ops.file_content, machine, path=APT_PROXY_LOGIN, content=login, mode="0600")
    assert len(run.commands) == 1 and "chmod 0600 " in run.commands[0]
    assert "s3cret" not in run.commands[0] and written(run.commands) == login.encode()


def test_a_logins_change_is_reported_without_its_contents(run_op, monkeypatch):
    monkeypatch.setattr("provision.docker.descriptions.last_read", lambda cls, path: None)
    change = _file(APT_PROXY_LOGIN, b"machine h\nlogin u\npassword s3cret\n", "0600")
    assert change.diff == "" and "s3cret" not in " ".join(change.what)
    assert change.what == [
        f"create {APT_PROXY_LOGIN} (mode 600, root:root) (a login: contents not shown)"
    ]


FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"


def test_daemon_files_holding_a_proxy_login_are_root_only(run_op):
    with_login = from_host_data({"docker_proxy": {"https": PROXY}})
    assert daemon.mode(with_login) == daemon.mode(with_login, {"proxies": {}}) == "0600"
    assert daemon.mode(with_login, {"debug": True}) == "0644"  # an engine before 23
    assert daemon.mode(from_host_data({"docker_proxy": {"https": "http://p:3128"}})) == "0644"
    run = run_op(ops.daemon_config_file, converged_machine(), settings=with_login)
    assert len(run.commands) == 1 and "chmod 0600 " in run.commands[0]
    assert "s3cret" not in run.commands[0]


def test_the_preflight_gets_both_logins_on_stdin_and_none_on_its_command_lines(monkeypatch):
    from provision.core import snapshot
    from provision.docker import preflight

    settings = from_host_data({"apt_proxy": PROXY, "docker_repo_url": REPO})
    repository = docker_repository(settings, "debian", "bookworm", "amd64")
    asked = []
    monkeypatch.setattr(preflight, "to_install", lambda _settings: {"docker-ce": None})
    monkeypatch.setattr(preflight, "_key", lambda *_: b"KEY")

    class Host:
        name = "web1"

        def _get_module(self):  # as pyinfra's context proxy answers
            return self

        def get_fact(self, cls, **kwargs):
            asked.append((cls().command(kwargs["sources"], kwargs["packages"]), kwargs["_stdin"]))

    monkeypatch.setattr(preflight, "host", Host())
    monkeypatch.setattr(snapshot, "host", preflight.host)  # the preflight reads with fresh()
    with pytest.raises(DeployError):  # no answer
        preflight.check_repository(settings, Target("debian", "bookworm", "amd64"))
    ((command, stdin),) = asked
    assert "s3cret" not in command and "t0ken" not in command
    assert "Dir::Etc::netrcparts=$t/auth.conf.d" in command
    assert subprocess.run(["sh", "-n", "-c", command]).returncode == 0
    lines = [base64.b64decode(line) for line in stdin.splitlines()]
    assert lines == [
        daemon.apt_proxy_conf(settings).encode(),
        (daemon.apt_proxy_login(settings) + repository.login).encode(),
        b"KEY",
        repository.entry().encode(),
    ]
