"""The one OpenSSH-config renderer: what ``ssh -G`` reads back is exactly the value given."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.sshconfig import SSHConfigError, Tokens, host_block, quote

SSH = shutil.which("ssh")
needs_ssh = pytest.mark.skipif(SSH is None, reason="needs the OpenSSH client")
VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\"'\\"),
    min_size=1,
    max_size=30,
).filter(lambda v: not any(ord(c) < 32 or ord(c) == 127 for c in v) and v.strip() == v)


def read_back(tmp_path, block: str, alias: str) -> dict[str, str]:
    """``ssh -G``'s view of ``alias`` in a config holding ``block``."""
    config = tmp_path / "config"
    config.write_text(block)
    done = subprocess.run(
        [SSH, "-G", "-F", str(config), alias], capture_output=True, text=True, check=True
    )
    return dict(line.split(" ", 1) for line in done.stdout.split("\n") if " " in line)


@needs_ssh
@settings(max_examples=60, deadline=None)
@given(user=VALUE.filter(lambda v: "%" not in v), path=VALUE)
def test_values_come_back_as_given(tmp_path_factory, user, path):
    tmp_path = tmp_path_factory.mktemp("ssh")
    block = host_block(
        "web1",
        {"HostName": "10.0.0.5", "User": user, "UserKnownHostsFile": f"/k/{path}", "Port": 2222},
    )
    seen = read_back(tmp_path, block, "web1")
    assert (seen["user"], seen["userknownhostsfile"], seen["port"]) == (user, f"/k/{path}", "2222")
    assert seen["hostname"] == "10.0.0.5"


@pytest.mark.parametrize(
    "value",
    ["10.0.0.5\n  ProxyCommand touch /tmp/pwned", "a\rb", "a\x00b", 'a"b', "a'b", "a\\b"],
)
def test_values_that_could_add_lines_or_words_are_refused(value):
    with pytest.raises(SSHConfigError, match="HostName"):
        host_block("web1", {"HostName": value})


@pytest.mark.parametrize("alias", ["web 1", "web1\nHost *", "*.example", "!web1", ""])
def test_host_names_that_are_patterns_or_hold_spaces_are_refused(alias):
    with pytest.raises(SSHConfigError, match="host name"):
        host_block(alias, {"HostName": "10.0.0.5"})


@needs_ssh
def test_percent_is_literal_except_in_tokens(tmp_path):
    block = host_block(
        "web1", {"HostName": "h%1", "UserKnownHostsFile": "/keys/100%/known"}
    ) + host_block("*", {"ControlPath": Tokens("/run/c%%d/%C")})
    seen = read_back(tmp_path, block, "web1")
    assert (seen["hostname"], seen["userknownhostsfile"]) == ("h%1", "/keys/100%/known")
    assert seen["controlpath"].startswith("/run/c%d/") and "%C" not in seen["controlpath"]


def test_empty_values_and_percent_in_user_are_refused():
    with pytest.raises(SSHConfigError):
        quote("HostName", "")
    with pytest.raises(SSHConfigError, match="or %"):
        quote("User", "a%b")


def test_spaces_and_comments_are_quoted():
    assert quote("IdentityFile", "/home/a b/#key") == '"/home/a b/#key"'
    assert quote("Port", 22) == "22"
