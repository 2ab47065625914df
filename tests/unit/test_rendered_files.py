"""Hostile settings in every file the deploy renders: each is refused at validation in one
line, or lands as one value of that file's grammar, read back by the real parser where this
machine has one (apt for sources and apt.conf, curl for its config, ``json``).

A value that could add a field or a stanza to deb822 sources, close a string in apt.conf,
start a directive in a systemd unit or add a token to apt's auth.conf is either refused or
read back whole as the one value it was meant to be.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provision.core.errors import SettingsError
from provision.docker import daemon, logins
from provision.docker.facts import APT_HELPER, Download, download_input
from provision.docker.layout import docker_repository
from provision.docker.validation import from_host_data
from provision.profiles.ci_runner import prune
from provision.profiles.ci_runner.deploy import gitlab_repository
from provision.profiles.ci_runner.settings import runner_settings

# what each file's grammar gives a meaning: line ends, quotes, escapes, separators, comments,
# systemd's specifiers, shell syntax, globs, options, and Unicode's own line ends
SPECIAL = list("\n\r\t \"';:#%\\$`()[]{}*?!&|<>=,@-") + ["\x00", "\x85", "\u2028", "$(id)"]
CHARS = [char for char in SPECIAL if len(char) == 1]
PIECE = st.text(alphabet=st.sampled_from([*CHARS, "a", "b", "1", "/", "."]), max_size=8)
HOSTILE = st.builds(lambda a, p, b: a + p + b, PIECE, st.sampled_from(SPECIAL), PIECE)
RUNS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def accepted(data: dict, host: str = "web1"):
    """The settings of ``data``, or ``None`` when refused in one line naming the host."""
    try:
        return from_host_data(data, host)
    except SettingsError as error:
        message = str(error)
        assert message.startswith(f"{host}: ") and not UNSAFE.search(message), message
        return None


# deb822 sources -------------------------------------------------------------------------------

FIELDS = ("Types", "URIs", "Suites", "Components", "Architectures", "Signed-By")


def deb822_fields(text: str) -> dict[str, str]:
    """The one stanza of ``text``, strictly: every line ``Field: value``, each field once."""
    assert text.endswith("\n") and "\n\n" not in text, text
    fields = {}
    for line in text[:-1].split("\n"):
        name, colon, value = line.partition(": ")
        assert colon and name in FIELDS and name not in fields, line
        assert value == value.strip() and value and not UNSAFE.search(value), line
        fields[name] = value
    assert tuple(fields) == FIELDS
    return fields


APT = shutil.which("apt-get")


def apt_reads(tmp_path, text: str) -> set[tuple[str, str, str, str]]:
    """What the real apt reads from ``text`` as a ``.sources`` file: (site, suite, component,
    architecture) of every package index, and the source lines it names."""
    parts, lists = tmp_path / "parts", tmp_path / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    parts.mkdir(exist_ok=True)
    (parts / "x.sources").write_text(text)
    out = subprocess.run(
        [APT, "-o", "Dir::Etc::sourcelist=/dev/null", "-o", f"Dir::Etc::sourceparts={parts}"]
        + ["-o", f"Dir::State::lists={lists}", "indextargets", "--no-release-info"]
        + ["--format", "$(SITE)|$(RELEASE)|$(COMPONENT)|$(ARCHITECTURE)|$(SOURCESENTRY)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = set()
    for line in out.splitlines():
        site, suite, component, arch, entry = line.rsplit("|", 4)  # only the site may hold |
        assert entry.endswith("x.sources:1"), line  # one stanza
        found.add((site, suite, component, arch))
    return found


REPO_SETTINGS = st.sampled_from(["docker_repo_url", "docker_codename", "docker_arch"])


@pytest.mark.skipif(APT is None, reason="needs apt")
@RUNS
@given(name=REPO_SETTINGS, value=HOSTILE, where=st.sampled_from(["end", "host", "whole"]))
def test_deb822_sources_hold_each_setting_as_one_value(tmp_path_factory, name, value, where):
    """A newline, a colon or a blank in a URL, codename or architecture never adds a field or a
    stanza: the value is refused, or apt reads exactly the one repository it names."""
    if name == "docker_repo_url":
        value = {
            "end": f"https://mirror.internal/{value}",
            "host": f"https://{value}.internal/docker",
            "whole": value,
        }[where]
    found = accepted({"docker_codename": "bookworm", "docker_arch": "amd64", name: value})
    if found is None:
        return
    repository = docker_repository(found, "debian", found.docker_codename, found.docker_arch)
    text = repository.sources()
    fields = deb822_fields(text)
    assert fields["URIs"] == logins.without_login(f"{found.docker_repo_url}/debian")
    assert (
        fields["Suites"] == found.docker_codename and fields["Architectures"] == found.docker_arch
    )
    site = fields["URIs"].rstrip("/")
    read = apt_reads(tmp_path_factory.mktemp("apt"), text)
    assert {(s, r, c) for s, r, c, _ in read} == {(site, fields["Suites"], "stable")}
    assert {a for *_, a in read} <= {fields["Architectures"], "all"}


@RUNS
@given(value=HOSTILE)
def test_gitlab_runners_sources_hold_its_url_as_one_value(value):
    try:
        found = runner_settings({"ci_runner_gitlab_repo_url": f"https://packages.internal/{value}"})
    except SettingsError as error:
        assert not UNSAFE.search(str(error))
        return
    text = gitlab_repository(found, "debian", "bookworm", "amd64").sources()
    assert deb822_fields(text)["URIs"] == f"{found.ci_runner_gitlab_repo_url}/debian"


# apt.conf: the proxy --------------------------------------------------------------------------

APT_CONFIG = shutil.which("apt-config")


def apt_config(tmp_path, text: str) -> set[str]:
    """What the real apt-config adds to its defaults when it reads ``text``."""
    path = tmp_path / "proxy.conf"
    path.write_text(text)

    def dump(config):
        run = subprocess.run([APT_CONFIG, "-c", str(config), "dump"], capture_output=True)
        assert run.returncode == 0, run.stderr
        return set(run.stdout.decode(errors="replace").splitlines())

    added = dump(path) - dump("/dev/null")
    return {line for line in added if not line.startswith("CommandLine::")} - {
        'Acquire::http "";',  # the parents of what it read
        'Acquire::https "";',
    }


@pytest.mark.skipif(APT_CONFIG is None, reason="needs apt-config")
@RUNS
@given(value=HOSTILE, login=st.booleans())
def test_apts_proxy_file_holds_the_proxy_as_one_string(tmp_path_factory, value, login):
    """``";`` or a newline in ``apt_proxy`` never closes apt.conf's string: the value is
    refused, or apt-config reads exactly the two proxy settings, each the URL without login."""
    url = f"http://{'u:p@' if login else ''}proxy.internal:3128/{value}"
    found = accepted({"apt_proxy": url})
    if found is None:
        return
    text = daemon.apt_proxy_conf(found)
    proxy = logins.without_login(found.apt_proxy)
    assert apt_config(tmp_path_factory.mktemp("aptconf"), text) == {
        f'Acquire::http::Proxy "{proxy}";',
        f'Acquire::https::Proxy "{proxy}";',
    }


# auth.conf.d: logins --------------------------------------------------------------------------


@RUNS
@given(user=HOSTILE, password=HOSTILE)
def test_apts_login_file_holds_exactly_machine_login_and_password(user, password):
    """apt reads auth.conf as white-space separated tokens: a login with a blank or a newline
    would add one. Such logins are refused; others are three pairs, the values whole."""
    url = f"https://{quote(user, safe='')}:{quote(password, safe='')}@mirror.internal/docker"
    found = accepted({"docker_repo_url": url})
    if found is None:
        return
    try:
        text = logins.auth_conf(f"{found.docker_repo_url}/debian")
    except ValueError:  # refused when written, before anything reaches the host
        assert any(char.isspace() for char in user + password) or not user
        return
    assert text.split() == [
        "machine",
        "https://mirror.internal/docker/debian",
        "login",
        user,
        "password",
        password,
    ]
    assert not UNSAFE.search(text.replace("\n", ""))


# apt's downloader (the key's download): the real apt-helper reads the logins -------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        _Recorder.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture(scope="module")
def recorder():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def basic(header: str) -> str:
    assert header.startswith("Basic ")
    return base64.b64decode(header[6:]).decode()


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(APT_HELPER), reason="apt-helper, run as root"
)
@settings(RUNS, max_examples=25, suppress_health_check=list(HealthCheck))
@given(user=HOSTILE, password=HOSTILE)
def test_apts_downloader_reads_a_login_and_a_proxys_login_whole(recorder, user, password):
    """Quotes, backslashes, ``#`` and ``;`` in a login reach the server as they were given: the
    logins travel on standard input into a throwaway ``auth.conf.d``, and apt's own downloader
    (the real ``Download`` fact's command) sends them whole, or the value is refused before
    anything runs."""
    assume(user and ":" not in user)
    login = f"{quote(user, safe='')}:{quote(password, safe='')}"
    url = f"http://{login}@127.0.0.1:{recorder}/key"
    proxy = f"http://{login}@127.0.0.1:{recorder}"
    try:
        stdin = download_input(url, proxy)
    except ValueError:  # white space or a control character: refused before anything runs
        assert UNSAFE.search(user + password) or re.search(r"\s", user + password)
        return
    _Recorder.seen.clear()
    run = subprocess.run(
        ["sh", "-c", Download().command(url=url)], input=stdin, capture_output=True, text=True
    )
    assert Download().process(run.stdout.splitlines()) == (b"ok", ""), run.stdout
    (headers,) = _Recorder.seen
    assert basic(headers["Authorization"]) == f"{user}:{password}"
    assert basic(headers["Proxy-Authorization"]) == f"{user}:{password}"


# systemd: the proxy drop-in and the prune units ------------------------------------------------


def unit_directives(text: str) -> list[tuple[str, str, str]]:
    """``(section, key, value)`` of a unit file as systemd reads it, strictly: no line may
    continue (``\\`` at its end), start a comment or a section by accident."""
    section, found = None, []
    for line in text.splitlines():
        assert not line.endswith("\\") and not UNSAFE.search(line), line
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), line
            section = line[1:-1]
            continue
        key, equals, value = line.partition("=")
        assert equals and re.fullmatch(r"[A-Za-z]+", key), line
        found.append((section, key, value))
    return found


def environment_words(value: str) -> list[str]:
    """``Environment=``'s words as systemd splits them: double-quoted words without ``"`` or
    ``\\`` inside (anything else here is a failure), ``%%`` a literal ``%``."""
    words = re.findall(r'"([^"\\]*)"', value)
    assert value == " ".join(f'"{word}"' for word in words), value
    assert all("%" not in word.replace("%%", "") for word in words), value
    return [word.replace("%%", "%") for word in words]


@RUNS
@given(value=HOSTILE, key=st.sampled_from(["http", "https", "no_proxy"]))
def test_the_proxy_drop_in_holds_each_proxy_as_one_environment_word(value, key):
    """A newline or ``\\`` in a proxy never adds a directive to the drop-in: the value is
    refused, or the drop-in sets exactly the proxy variables, each whole."""
    given_value = f"http://proxy.internal:3128/{value}" if key != "no_proxy" else f"a{value}"
    found = accepted({"docker_proxy": {key: given_value}})
    if found is None:
        return
    text = daemon.proxy_dropin(found, "20.10.24")
    directives = unit_directives(text)
    assert [(section, name) for section, name, _ in directives] == [("Service", "Environment")]
    words = environment_words(directives[0][2])
    wanted = {daemon.PROXY_ENV[k]: v for k, v in found.proxy().items()}
    assert dict(word.split("=", 1) for word in words) == wanted


@RUNS
@given(
    name=st.sampled_from(["ci_runner_prune_schedule", "ci_runner_prune_until"]),
    value=HOSTILE,
)
def test_the_prune_units_and_script_hold_each_setting_as_one_value(tmp_path_factory, name, value):
    """A hostile schedule or age never adds a directive to the timer, nor a word or a command
    to the prune script: refused, or one value."""
    base = {"ci_runner_prune_schedule": "hourly", "ci_runner_prune_until": "24h"}
    try:
        found = runner_settings({**base, name: f"{base[name][:1]}{value}"})
    except SettingsError as error:
        assert not UNSAFE.search(str(error))
        return
    directives = unit_directives(prune.timer(found))
    assert [(section, key) for section, key, _ in directives] == [
        ("Unit", "Description"),
        ("Timer", "OnCalendar"),
        ("Timer", "Persistent"),
        ("Timer", "Unit"),
        ("Install", "WantedBy"),
    ]
    assert directives[1][2].strip() == found.ci_runner_prune_schedule.strip()  # systemd strips
    script = prune.script(found)
    root = tmp_path_factory.mktemp("prune")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text('#!/bin/sh\nprintf "%s\\0" "$@" >> "$LOG"; echo /data\n')
    (bin_dir / "df").write_text("#!/bin/sh\necho head; echo x 1 1 999999999\n")
    for tool in ("docker", "df"):
        (bin_dir / tool).chmod(0o755)
    log = root / "log"
    subprocess.run(
        ["/bin/sh", "-c", script, "prune", "scheduled"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log)},
        cwd=root,
        check=True,
        capture_output=True,
    )
    words = log.read_bytes().split(b"\x00")
    assert f"until={found.ci_runner_prune_until}".encode() in words
    assert not (root / "id").exists()


# daemon.json ----------------------------------------------------------------------------------


@RUNS
@given(
    options=st.dictionaries(
        st.sampled_from(["labels", "dns-search", "exec-opts", "bip", "data-root", "x"]),
        st.one_of(HOSTILE, st.lists(HOSTILE, max_size=3)),
        max_size=3,
    ),
    mirror=HOSTILE,
)
def test_daemon_json_holds_every_value_as_json_reads_it(options, mirror):
    """daemon.json is JSON: whatever a value holds, the file reads back as exactly the options
    (``json.dumps`` escapes every quote, backslash and control character)."""
    found = accepted(
        {"docker_daemon_options": options, "docker_registry_mirrors": [f"https://m/{mirror}"]}
    )
    if found is None:
        return
    config = daemon.daemon_config(found, "26.1.5")
    text = daemon.daemon_json(config)
    assert json.loads(text) == config
    assert not UNSAFE.search(text.replace("\n", ""))  # escaped, never raw
