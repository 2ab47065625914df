"""Which files in the deploy's places this project wrote: those of its own form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provision.docker.daemon import apt_proxy_conf, daemon_config, daemon_json, proxy_dropin
from provision.docker.layout import APT_PROXY, DAEMON_JSON, PROXY_DROPIN
from provision.docker.takeover import written_here
from provision.docker.validation import from_host_data


def test_what_this_project_writes_is_recognised():
    settings = from_host_data(
        {"apt_proxy": "http://proxy:3128", "docker_proxy": {"https": "http://proxy:3128"}}
    )
    assert written_here(DAEMON_JSON, daemon_json(daemon_config(settings, "5:26.1.5-1")).encode())
    assert written_here(APT_PROXY, apt_proxy_conf(settings).encode())
    assert written_here(PROXY_DROPIN, proxy_dropin(settings, "5:20.10.24~3-0").encode())


@pytest.mark.parametrize(
    ("path", "content"),
    [
        (DAEMON_JSON, b'{"bip": "172.26.0.1/16"}\n'),  # hand-written: not our layout
        (DAEMON_JSON, b'{\n  "dns": [\n    "10.0.0.2"\n  ]\n}'),  # no final newline
        (DAEMON_JSON, b"[]\n"),
        (DAEMON_JSON, b"\xff\n"),
        (APT_PROXY, b'Acquire::http::Proxy "http://p:3128";\nAcquire::ftp::Proxy "x";\n'),
        (APT_PROXY, b""),
        (PROXY_DROPIN, b'[Service]\nEnvironment="HTTP_PROXY=http://p"\nExecStart=\n'),
        ("/etc/other", b"{}\n"),
    ],
)
def test_other_files_are_the_users(path, content):
    assert not written_here(path, content)


@given(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4))
def test_any_daemon_json_this_project_writes_is_its_own(config):
    assert written_here(DAEMON_JSON, daemon_json(config).encode())
