"""Other people's apt sources and the logins of a proxy, on a real host with real apt.

Sources that share the stand-in Docker repository's host name but not its path stay as they
are; a ``[trusted=yes]`` Docker entry, in whatever spelling, goes and is reported, and so do
entries of ``download.docker.com`` itself while ``docker_repo_url`` names the lab's mirror.
A proxy that wants a password gets it from root-only files: no command line on the host and no
output of the run shows it."""

from __future__ import annotations

import json
import shlex
from contextlib import contextmanager

import pytest

from provision.docker.deploy import APT_PROXY, APT_PROXY_LOGIN, KEYRING, SOURCES
from provision.docker.layout import DOCKER_LOGIN
from provision_lab.server import serving_with_login

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
        "sudo rm -f /etc/apt/sources.list.d/mirror.list /etc/apt/sources.list.d/mirror.sources"
        " /etc/apt/sources.list.d/docker-upstream.sources",
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
    # docker_repo_url is the lab's mirror: Docker's own address is Docker's repository still
    upstream_line = (
        "deb [trusted=yes] HTTPS://Download.Docker.com:443//linux/debian/ bookworm stable\n"
    )
    upstream_stanza = (
        "Types: deb\nURIs: http://download.docker.com/linux/./debian\nSuites: bookworm\n"
        "Components: stable test\nSigned-By: /usr/share/keyrings/docker-old.gpg\n"
    )
    files = {
        "/etc/apt/sources.list.d/mirror.list": theirs_list + planted_line + upstream_line,
        "/etc/apt/sources.list.d/mirror.sources": theirs_sources + "\n" + planted_stanza,
        "/etc/apt/sources.list.d/docker-upstream.sources": upstream_stanza,
    }
    for path, text in files.items():
        sh(lab1, "lab1", f"printf %s {shlex.quote(text)} | sudo tee {path} >/dev/null")
    sources_list = sh(lab1, "lab1", "cat /etc/apt/sources.list").stdout

    result = apply("lab1")

    assert result.ok, result.hosts["lab1"].error
    changes = {c["operation"]: c["changes"] for c in result.hosts["lab1"].changes}
    reported = changes["Remove other sources of Docker's repository"]
    assert len(reported) == 5, reported  # the upstream file holds nothing else: removed
    assert sum("trusted=yes" in line for line in reported) == 3
    assert any("signed-by /usr/share/keyrings/docker-old.gpg" in line for line in reported)
    assert sh(lab1, "lab1", "cat /etc/apt/sources.list.d/mirror.list").stdout == (
        theirs_list + "# " + planted_line + "# " + upstream_line
    )
    gone = sh(lab1, "lab1", "ls /etc/apt/sources.list.d/docker-upstream.sources", check=False)
    assert gone.returncode != 0
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


REPO_SECRET = "r3po-Secret-0815"
# every regular file a local user may read, in the places a run writes to
READABLE = (
    "find /etc /tmp /run /root /home /var/lib/apt /var/cache/apt /var/log /var/tmp -xdev "
    "-type f -perm -004 -size -20M -print0"
)


def test_the_repositorys_login_reaches_apt_from_a_root_only_file_and_nothing_else(lab1, capfd):
    """The stand-in repository behind HTTP basic auth, as a private mirror serves it:
    ``docker_repo_url`` with ``user:password@`` converges with apt reading the login from
    ``auth.conf.d`` (0600), for apt and its downloader alike; the password is on no command
    line on the host, in no file other users can read, and in nothing the run shows."""
    with serving_with_login(lab1.config, ("pull", REPO_SECRET)) as server:
        port = server.server_address[1]
        repo = f"http://pull:{REPO_SECRET}@{lab1.config.gateway}:{port}/linux"
        sh(lab1, "lab1", f"sudo rm -f {KEYRING}")  # the key is fetched again, with the login
        with watched(lab1, "lab1") as seen_on_host:
            result = apply("lab1", docker_repo_url=repo)
            seen, helpers = seen_on_host()
        printed = capfd.readouterr()

        assert result.ok, result.hosts["lab1"].error
        asked = server.requests
        assert ("GET", "/linux/debian/gpg", True) in asked  # apt's downloader sent the login
        assert ("GET", "/linux/debian/dists/bookworm/InRelease", True) in asked  # and apt did
        assert not any(path.startswith("/linux/debian/dists/") and not ok for _, path, ok in asked)
        assert "apt-get" in seen  # the watcher saw the run's apt
        lines = helpers.splitlines()  # every apt-helper of the run, recorded
        assert lines and all(" download-file " in line for line in lines), lines
        assert REPO_SECRET not in seen and REPO_SECRET not in helpers
        assert REPO_SECRET not in printed.out + printed.err
        assert REPO_SECRET not in json.dumps(result.as_dict())
        login = sh(lab1, "lab1", f"sudo stat -c '%a %U:%G' {DOCKER_LOGIN}").stdout
        assert login == "600 root:root\n"
        written = sh(lab1, "lab1", f"sudo cat {DOCKER_LOGIN}").stdout
        assert written == (
            f"machine http://{lab1.config.gateway}:{port}/linux/debian\nlogin pull\n"
            f"password {REPO_SECRET}\n"
        )
        assert REPO_SECRET not in sh(lab1, "lab1", f"cat {SOURCES}").stdout
        readable = sh(
            lab1,
            "lab1",
            f"sudo {READABLE} | sudo xargs -0 grep -lF -e {shlex.quote(REPO_SECRET)} || true",
        ).stdout
        assert readable == "", readable
        updated = sh(lab1, "lab1", "sudo apt-get update 2>&1").stdout  # with the login
        ours = [line for line in updated.splitlines() if f":{port}/linux/" in line]
        assert ours and all(line.startswith(("Hit:", "Get:")) for line in ours), updated
        assert "Unauthorized" not in updated, updated
        again = apply("lab1", docker_repo_url=repo)
        assert again.ok and again.hosts["lab1"].status == "unchanged"
    assert apply("lab1").ok  # the repository without a login: its login file goes
    assert sh(lab1, "lab1", f"sudo ls {DOCKER_LOGIN}", check=False).returncode != 0


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
