"""Other people's apt sources and the logins of a proxy, on a real host with real apt.

Sources that share the stand-in Docker repository's host name but not its path stay as they
are; a ``[trusted=yes]`` Docker entry, in whatever spelling, goes and is reported. A proxy that
wants a password gets it from root-only files: no command line on the host and no output of
the run shows it."""

from __future__ import annotations

import json
import shlex
from contextlib import contextmanager

import pytest

from provision.docker.deploy import APT_PROXY, APT_PROXY_LOGIN, KEYRING

from .conftest import apply, check, failures, sh, tinyproxy

MIRRORS = ("mirror-a", "mirror-b")  # paths on the repository's host that serve a copy of it
SECRET = "pr0xy-Secret-4711"


@pytest.fixture(scope="module")
def lab1(lab):
    """lab1 with Docker installed, and two more repositories on the stand-in's host name."""
    for name in MIRRORS:
        link = lab.config.www_dir / name
        if not link.exists():
            link.symlink_to("linux/debian")
    result = apply("lab1")
    assert result.ok, result.hosts["lab1"].error
    yield lab
    sh(
        lab,
        "lab1",
        "sudo rm -f /etc/apt/sources.list.d/mirror.list /etc/apt/sources.list.d/mirror.sources",
    )
    for name in MIRRORS:
        (lab.config.www_dir / name).unlink(missing_ok=True)


def test_others_sources_on_the_same_host_stay_and_a_trusted_docker_entry_goes(lab1):
    base = f"http://{lab1.config.gateway}:{lab1.config.repo_port}"
    theirs_list = f"deb [signed-by={KEYRING}] {base}/{MIRRORS[0]} bookworm stable\n"
    theirs_sources = (
        f"Types: deb\nURIs: {base}/{MIRRORS[1]}/\nSuites: bookworm\nComponents: stable\n"
        f"Signed-By: {KEYRING}\n"
    )
    planted_line = f"deb [trusted=yes] {base}//linux/debian/ bookworm stable\n"
    planted_stanza = (
        f"Types: deb\nURIs: {base}/linux//debian\nSuites: bookworm\nComponents: stable\n"
        "Trusted: yes\n"
    )
    files = {
        "/etc/apt/sources.list.d/mirror.list": theirs_list + planted_line,
        "/etc/apt/sources.list.d/mirror.sources": theirs_sources + "\n" + planted_stanza,
    }
    for path, text in files.items():
        sh(lab1, "lab1", f"printf %s {shlex.quote(text)} | sudo tee {path} >/dev/null")
    sources_list = sh(lab1, "lab1", "cat /etc/apt/sources.list").stdout

    result = apply("lab1")

    assert result.ok, result.hosts["lab1"].error
    changes = {c["operation"]: c["changes"] for c in result.hosts["lab1"].changes}
    reported = changes["Remove other sources of Docker's repository"]
    assert len(reported) == 2 and all("trusted=yes" in line for line in reported)
    assert sh(lab1, "lab1", "cat /etc/apt/sources.list.d/mirror.list").stdout == (
        theirs_list + "# " + planted_line
    )
    commented = "".join(f"# {line}\n" for line in planted_stanza.splitlines())
    assert sh(lab1, "lab1", "cat /etc/apt/sources.list.d/mirror.sources").stdout == (
        theirs_sources + "\n" + commented
    )
    assert sh(lab1, "lab1", "cat /etc/apt/sources.list").stdout == sources_list
    # apt reads the repositories that stayed, signed, and nothing unsigned is left
    update = sh(lab1, "lab1", "sudo apt-get update 2>&1").stdout
    assert f"{base}/{MIRRORS[0]} bookworm InRelease" in update
    assert f"{base}/{MIRRORS[1]} bookworm InRelease" in update
    assert "Conflicting" not in update and "trusted" not in update.lower()
    assert apply("lab1").hosts["lab1"].status == "unchanged"


# apt-helper runs too briefly for a sampling watcher: a wrapper records each of its command lines
HELPER = "/usr/lib/apt/apt-helper"
HELPER_LOGGER = f"""#!/bin/sh
printf '%s\\n' "$*" >> /root/helper-argv
exec {HELPER}.real "$@"
"""
WATCH = r"""
touch /root/watching
while [ -e /root/watching ]; do
  for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f" 2>/dev/null; echo; done
done | sort -u > /root/cmdlines
"""


@contextmanager
def watched(lab, host: str):
    """Record every command line on ``host`` (sampled) and every apt-helper's (wrapped):
    yields a function returning both, once the run is over."""
    sh(lab, host, f"sudo nohup sh -c {shlex.quote(WATCH)} >/dev/null 2>&1 &")
    sh(
        lab,
        host,
        f"sudo rm -f /root/helper-argv && sudo mv {HELPER} {HELPER}.real && "
        f"printf %s {shlex.quote(HELPER_LOGGER)} | sudo tee {HELPER} >/dev/null && "
        f"sudo chmod 755 {HELPER}",
    )

    def seen() -> tuple[str, str]:
        sh(lab, host, "sudo rm -f /root/watching; sleep 1")
        helpers = sh(lab, host, "sudo cat /root/helper-argv", check=False).stdout
        return sh(lab, host, "sudo cat /root/cmdlines").stdout, helpers

    try:
        yield seen
    finally:
        sh(lab, host, f"sudo mv {HELPER}.real {HELPER}; sudo rm -f /root/watching")


def test_a_proxys_password_is_on_no_command_line_and_in_no_output(lab1, tmp_path, capfd):
    sh(lab1, "lab1", f"sudo rm -f {KEYRING}")  # the key is fetched again, through the proxy
    with tinyproxy(lab1, tmp_path, ("puser", SECRET)) as proxy:
        with watched(lab1, "lab1") as seen_on_host:
            result = apply("lab1", apt_proxy=proxy.url)
            seen, helpers = seen_on_host()
        asked = proxy.requests()
        printed = capfd.readouterr()

        assert result.ok, result.hosts["lab1"].error
        key_url = f"http://{lab1.config.gateway}:{lab1.config.repo_port}/linux/debian/gpg"
        assert f"GET {key_url} HTTP/1.1" in asked  # apt's downloader used the proxy, its login
        assert any("InRelease" in line for line in asked)  # and so did apt
        assert "apt-get" in seen  # the watcher saw the run's apt
        lines = helpers.splitlines()  # every apt-helper of the run, recorded
        assert lines and all(" download-file " in line for line in lines), lines
        assert SECRET not in seen and SECRET not in helpers
        assert SECRET not in printed.out + printed.err
        assert SECRET not in json.dumps(result.as_dict())
        assert SECRET not in sh(lab1, "lab1", f"cat {APT_PROXY}").stdout
        login = sh(lab1, "lab1", f"sudo stat -c '%a %U:%G' {APT_PROXY_LOGIN}").stdout
        assert login == "600 root:root\n"

        sh(lab1, "lab1", f"sudo chmod 644 {APT_PROXY_LOGIN}")  # as an older version left it
        found = failures(check("lab1", apt_proxy=proxy.url), "lab1")
        assert len(found) == 1 and found[0].startswith("test_apt_proxy: ")
        assert f"{APT_PROXY_LOGIN} owner, mode: root root 644" in found[0]
        assert SECRET not in found[0]
        again = apply("lab1", apt_proxy=proxy.url)
        assert again.hosts["lab1"].changed == ["apt's proxy login"]
        assert sh(lab1, "lab1", f"sudo stat -c %a {APT_PROXY_LOGIN}").stdout == "600\n"
    assert apply("lab1").ok  # no proxy: its files go
    assert sh(lab1, "lab1", f"ls {APT_PROXY} {APT_PROXY_LOGIN}", check=False).returncode != 0


def test_a_fresh_host_passes_the_preflight_through_a_proxy_that_wants_a_login(lab, tmp_path, capfd):
    """No curl, no key, no Docker: the preflight reads the repository through the proxy with
    its login (apt's own downloader and apt), the host converges, and a rerun changes nothing."""
    lab.reset("lab2")
    assert sh(lab, "lab2", "command -v curl", check=False).returncode != 0
    with tinyproxy(lab, tmp_path, ("puser", SECRET)) as proxy:
        with watched(lab, "lab2") as seen_on_host:
            result = apply("lab2", apt_proxy=proxy.url)
            seen, helpers = seen_on_host()
        asked = proxy.requests()
        assert result.ok, result.hosts["lab2"].error
        repo = lab.state["repo"]["url"]
        assert asked.count(f"GET {repo}/debian/gpg HTTP/1.1") == 2  # the preflight, the install
        assert asked.count(f"GET {repo}/debian/dists/trixie/InRelease HTTP/1.1") >= 2
        lines = helpers.splitlines()
        assert len(lines) == 2 and all(f" download-file {repo}/debian/gpg " in x for x in lines)
        printed = capfd.readouterr()
        assert SECRET not in seen + helpers + printed.out + printed.err
        assert SECRET not in json.dumps(result.as_dict())
        assert failures(check("lab2", apt_proxy=proxy.url), "lab2") == []
        before = len(proxy.requests())
        again = apply("lab2", apt_proxy=proxy.url)
        assert again.hosts["lab2"].status == "unchanged", again.hosts["lab2"].changed
        assert len(proxy.requests()) == before  # nothing read again: no preflight, no update
