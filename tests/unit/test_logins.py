"""Logins in URLs reach hosts through root-only files and curl's standard input only."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provision.docker import daemon, logins
from provision.docker import operations as ops
from provision.docker.deploy import APT_PROXY_LOGIN, DOCKER_LOGIN, KEYRING
from provision.docker.descriptions import _file
from provision.docker.layout import docker_repository
from provision.docker.settings import from_host_data

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


def test_curl_reads_login_and_proxy_from_its_config():
    config = logins.curl_config("https://me:t0ken@h/gpg", PROXY)
    assert config == f'user = "me:t0ken"\nproxy = "{PROXY}"\n'
    assert logins.curl_config("https://h/gpg") == ""


@given(user=st.text(min_size=1), password=st.text())
def test_curl_config_values_stay_one_value(user, password):
    """Whatever a login holds, it is one quoted value, or refused (control characters)."""
    url = f"https://{user.replace('@', '%40')}:{password}@h/gpg"
    try:
        config = logins.curl_config(url)
    except ValueError:
        return
    for line in config.split("\n")[:-1]:  # curl ends lines at LF only
        name, _, value = line.partition(" = ")
        assert name in ("user", "proxy") and value.startswith('"') and value.endswith('"')
        inner = value[1:-1].replace("\\\\", "").replace('\\"', "")
        assert '"' not in inner


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
    assert "t0ken" not in command and "s3cret" not in command and "--globoff" in command
    assert "https://mirror.internal/docker/linux/debian/gpg" in command
    assert "curl -K - " in command and stdin == logins.curl_config(url, PROXY)


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


def test_the_preflight_gets_both_logins_on_stdin_and_none_on_its_command_lines(tmp_path):
    from provision.docker.preflight import AptDownload, RepositoryOffer, _login_lines

    settings = from_host_data({"apt_proxy": PROXY, "docker_repo_url": REPO})
    repository = docker_repository(settings, "debian", "bookworm", "amd64")
    stdin = _login_lines(settings, repository)
    assert stdin == daemon.apt_proxy_login(settings) + repository.login
    config = daemon.apt_proxy_conf(settings)
    commands = [
        RepositoryOffer().command(repository.entry(), b"KEY", ["docker-ce"], config),
        AptDownload().command(repository.key_url, config),
    ]
    for command in commands:
        assert "s3cret" not in command and "t0ken" not in command
        assert "Dir::Etc::netrcparts=$t/auth.conf.d" in command
        assert 'cat > "$t/auth.conf.d/zz-provision.conf"' in command
        assert subprocess.run(["sh", "-n", "-c", command]).returncode == 0
