"""The one OpenSSH-config renderer: what ``ssh -G`` reads back is exactly the value given,
and host names, users, ports and jump hosts follow a grammar that leaves a shell nothing to
run (OpenSSH builds ``ProxyJump``'s and a user's ``ProxyCommand``'s commands from them)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.ssh.config import (
    CONNECTION_OPTIONS,
    USER,
    SSHConfigError,
    Tokens,
    connection_options,
    connection_problems,
    host_block,
    quote,
)

SSH = shutil.which("ssh")
needs_ssh = pytest.mark.skipif(SSH is None, reason="needs the OpenSSH client")
VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\"'\\"),
    min_size=1,
    max_size=30,
).filter(lambda v: not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", v) and v.strip() == v)
HOSTILE = [
    "a$(touch${IFS}/tmp/x)@host",
    "$(touch /tmp/x)",
    "`touch /tmp/x`",
    "host;touch /tmp/x",
    "host|touch",
    "host&&id",
    "-oProxyCommand=touch /tmp/x",
    "-host",
    "host\n  ProxyCommand touch /tmp/x",
    "a\rb",
    "a\x00b",
    "a\u2028b",
    "a\x85b",
    "a\u2029b",
    "%h",
    "h o s t",
]
# what a shell could act on, or ssh read as an option
SHELL_SIGNIFICANT = re.compile(r"[\s$`;&|<>(){}*?!~'\"\\%#=]|^-|,-|@-|//-")


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
@given(user=st.from_regex(USER, fullmatch=True), path=VALUE)
def test_values_come_back_as_given(tmp_path_factory, user, path):
    tmp_path = tmp_path_factory.mktemp("ssh")
    block = host_block(
        "web1",
        {"HostName": "10.0.0.5", "User": user, "UserKnownHostsFile": f"/k/{path}", "Port": 2222},
    )
    seen = read_back(tmp_path, block, "web1")
    assert (seen["user"], seen["userknownhostsfile"], seen["port"]) == (user, f"/k/{path}", "2222")
    assert seen["hostname"] == "10.0.0.5"


@pytest.mark.parametrize("option", ["HostName", "User", "ProxyJump", "Port"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_refused(option, value):
    with pytest.raises(SSHConfigError, match=option):
        host_block("web1", {option: value})


@pytest.mark.parametrize(
    "value",
    ["10.0.0.5\n  ProxyCommand touch /tmp/pwned", "a\rb", "a\x00b", 'a"b', "a'b", "a\\b", "a\x85b"],
)
def test_values_that_could_add_lines_or_words_are_refused(value):
    with pytest.raises(SSHConfigError, match="IdentityFile"):
        host_block("web1", {"IdentityFile": value})


@pytest.mark.parametrize("alias", ["web 1", "web1\nHost *", "*.example", "!web1", "", "-web1"])
def test_host_names_that_are_patterns_options_or_hold_spaces_are_refused(alias):
    with pytest.raises(SSHConfigError, match="host name"):
        host_block(alias, {"HostName": "10.0.0.5"})


@pytest.mark.parametrize(
    "option, value",
    [
        ("HostName", "web1.example.com"),
        ("HostName", "192.0.2.10"),
        ("HostName", "2001:db8::1"),
        ("HostName", "under_score.internal."),
        ("User", "deploy.user"),
        ("User", "ci-runner"),
        ("Port", 65535),
        ("ProxyJump", "bastion"),
        ("ProxyJump", "ops@bastion.example.com:2222,jump2"),
        ("ProxyJump", "ssh://ops@[2001:db8::1]:22"),
        ("ProxyJump", "none"),
        ("StrictHostKeyChecking", "accept-new"),
        ("StrictHostKeyChecking", True),
    ],
)
def test_what_the_grammar_accepts(option, value):
    quote(option, value)


@pytest.mark.parametrize(
    "option, value",
    [
        ("Port", 0),
        ("Port", 65536),
        ("Port", "22 "),
        ("Port", "٢٢"),
        ("ProxyJump", "ops@"),
        ("ProxyJump", "a,,b"),
        ("ProxyJump", "[bastion]"),
        ("ProxyJump", "bastion:99999"),
        ("ProxyJump", "ops@-oProxyCommand=x"),
        ("HostName", "a" * 254),
        ("HostName", "1.2.3"),
        ("User", "ci$"),
        ("ProxyJump", "ci$@bastion"),
        ("StrictHostKeyChecking", "maybe"),
    ],
)
def test_what_the_grammar_refuses(option, value):
    with pytest.raises(SSHConfigError, match=option):
        quote(option, value)


@settings(max_examples=300, deadline=None)
@given(
    option=st.sampled_from(["HostName", "User", "ProxyJump", "Port"]),
    value=st.one_of(
        st.text(max_size=40),
        st.text(
            alphabet=st.sampled_from(list("ab1-_.:@[],/$`;&|()%\n\r\x00\x85\u2028 ")), max_size=20
        ),
        st.sampled_from(HOSTILE),
    ),
)
def test_what_the_grammar_accepts_a_shell_cannot_act_on(option, value):
    try:
        text = quote(option, value)
    except SSHConfigError as error:
        assert "\n" not in str(error).replace("\\n", "")  # one line, the value shown as repr
        return
    assert text == value and not SHELL_SIGNIFICANT.search(text.removeprefix("ssh://"))


@needs_ssh
@settings(max_examples=60, deadline=None)
@given(value=st.text(min_size=1, max_size=30))
def test_an_accepted_jump_host_is_read_back_whole(tmp_path_factory, value):
    try:
        block = host_block("web1", {"HostName": "10.0.0.5", "ProxyJump": value})
    except SSHConfigError:
        return
    seen = read_back(tmp_path_factory.mktemp("ssh"), block, "web1")
    assert seen.get("proxyjump", "none") == value


@needs_ssh
def test_percent_is_literal_except_in_tokens(tmp_path):
    block = host_block(
        "web1", {"HostName": "h1", "UserKnownHostsFile": "/keys/100%/known"}
    ) + host_block("*", {"ControlPath": Tokens("/run/c%%d/%C")})
    seen = read_back(tmp_path, block, "web1")
    assert (seen["hostname"], seen["userknownhostsfile"]) == ("h1", "/keys/100%/known")
    assert seen["controlpath"].startswith("/run/c%d/") and "%C" not in seen["controlpath"]


def test_empty_values_and_percent_in_user_are_refused():
    with pytest.raises(SSHConfigError):
        quote("HostName", "")
    with pytest.raises(SSHConfigError, match="not a user name"):
        quote("User", "a%b")


def test_spaces_and_comments_are_quoted():
    assert quote("IdentityFile", "/home/a b/#key") == '"/home/a b/#key"'
    assert quote("Port", 22) == "22"


def test_connection_problems_name_the_host_and_the_setting():
    problems = connection_problems(
        "web1",
        {
            "ssh_proxy_jump": "a$(touch${IFS}/tmp/x)@host",
            "ssh_hostname": "$(id)",
            "ssh_port": 70000,
            "ssh_prefer_curve25519": "yes",
        },
    )
    assert problems == [
        "host web1: ssh_hostname '$(id)' is not a host name or IP address; fix its value",
        "host web1: ssh_port '70000' is not a port number (1-65535); fix its value",
        "host web1: ssh_proxy_jump 'a$(touch${IFS}/tmp/x)@host' is not a comma-separated "
        "list of [user@]host[:port] jump hosts; fix its value",
        "host web1: ssh_prefer_curve25519 must be true or false, got 'yes'",
    ]
    assert connection_problems("web1", {"ssh_user": "deploy", "ssh_port": 22}) == []
    assert connection_problems("-oProxyCommand=x", {"ssh_hostname": "10.0.0.1"})[0].startswith(
        "host '-oProxyCommand=x' cannot be reached"
    )


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(sorted(CONNECTION_OPTIONS)),
    value=st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE), st.integers()),
)
def test_what_loading_accepts_the_renderer_writes_and_the_rest_is_one_line(key, value):
    problems = connection_problems("web1", {key: value})
    if problems:
        assert all("\n" not in p and "\u2028" not in p and "\x85" not in p for p in problems)
        with pytest.raises(SSHConfigError):
            host_block("web1", connection_options("web1", {key: value}))
    else:
        host_block("web1", connection_options("web1", {key: value}))
