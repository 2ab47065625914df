"""Every mistake gets one line: exit 2 before any host is contacted, for every command; a
dropped connection is a row, not a traceback."""

from __future__ import annotations

import json
import sys

import pytest

from provision.cli import main

from .sshservers import FakeServer

COMMANDS = {
    "apply": [],
    "verify": [],
    "status": [],
    "uninstall": ["--yes"],
    "exec": ["--", "true"],
    "bootstrap": ["--initial-user", "root"],
    "audit": [],
}


@pytest.fixture
def server(tmp_path):
    server = FakeServer("drop", tmp_path)
    yield server
    server.close()


@pytest.fixture
def deploy_key(tmp_path):
    import subprocess

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return str(key)


@pytest.fixture
def inventory(tmp_path, server, deploy_key):
    path = tmp_path / "inventory.py"
    path.write_text(server.inventory(2, ssh_connect_timeout=5, ssh_key=deploy_key))
    return str(path)


def run_main(monkeypatch, capsys, *args: str, tracebacks: bool = False):
    """``provision ARGS`` in this process: exit code, stdout, stderr (without a traceback)."""
    monkeypatch.setattr(sys, "argv", ["provision", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert tracebacks or "Traceback" not in out + err, out + err
    return exited.value.code, out, err


def one_line(monkeypatch, capsys, server, *args: str) -> str:
    """The one line of a usage error: exit 2, nothing on stdout, no host contacted."""
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert server.accepted == 0
    return err.strip()


def command(name: str, inventory: str, *args: str) -> list[str]:
    """``name -i inventory ARGS`` with the command's own required options (and its ``--``)."""
    extra = COMMANDS[name]
    if "--" in extra:
        return [name, "-i", inventory, *args, *extra]
    return [name, "-i", inventory, *extra, *args]


OUTPUTS = [
    (name, option)
    for name in COMMANDS
    for option in ("--report", "--junit", "--prometheus")
    if option == "--report"
    or (option == "--junit" and name in ("apply", "verify", "uninstall", "audit"))
    or name == "audit"
]


@pytest.mark.parametrize(("name", "option"), OUTPUTS)
@pytest.mark.parametrize("where", ["missing/out", "directory", "file/out"])
def test_outputs_that_cannot_be_written_stop_every_command_first(
    monkeypatch, capsys, server, inventory, tmp_path, name, option, where
):
    (tmp_path / "directory").mkdir()
    (tmp_path / "file").write_text("")
    path = str(tmp_path / where)
    line = one_line(monkeypatch, capsys, server, *command(name, inventory, option, path))
    assert option in line and path in line


@pytest.mark.parametrize("name", COMMANDS)
def test_unknown_options_are_errors_for_every_command(monkeypatch, capsys, server, inventory, name):
    line = one_line(monkeypatch, capsys, server, *command(name, inventory, "--sudu"))
    assert line.startswith(f"error: provision {name}: No such option '--sudu'.")
    assert line.endswith(f"(see `provision {name} --help`).")


def test_exec_runs_nothing_for_an_option_before_the_double_dash(
    monkeypatch, capsys, server, inventory
):
    line = one_line(monkeypatch, capsys, server, "exec", "-i", inventory, "--sudu", "--", "true")
    assert "No such option '--sudu'." in line and "'--sudo'" in line


RESUMES = {
    "directory": None,
    "not JSON": b"rollout",
    "not UTF-8": b"\xff\xfe\x00{",
    "a list": b"[]",
    "hosts a list": b'{"rollout": {"batch": "1"}, "hosts": []}',
    "no batch": b'{"rollout": {}, "hosts": {}}',
}


@pytest.mark.parametrize("shape", RESUMES)
def test_a_resume_file_of_the_wrong_shape(monkeypatch, capsys, server, inventory, tmp_path, shape):
    path = tmp_path / "rollout.json"
    if RESUMES[shape] is None:
        path.mkdir()
    else:
        path.write_bytes(RESUMES[shape])
    line = one_line(monkeypatch, capsys, server, "apply", "-i", inventory, "--resume", str(path))
    assert "--resume" in line and str(path) in line


INVENTORIES = {
    "non-string key": ("hosts = [('web1', {1: 'x', 'ssh_port': PORT})]\n", "data key 1 is not"),
    "not UTF-8": (b"hosts = ['caf\xe9']\n", "cannot be read (it is not UTF-8 text)"),
    "exits": ("import sys\nsys.exit(0)\n", "line 2: the inventory called exit (0)"),
    "exits with text": ("raise SystemExit('bye')\n", "the inventory called exit ('bye')"),
    "null byte": (b"hosts = ['a']\x00\n", "fix the inventory file"),
    "no hosts": ("hosts = []\n", "has no hosts; add some."),
}


@pytest.mark.parametrize("shape", INVENTORIES)
@pytest.mark.parametrize("name", COMMANDS)
def test_inventories_of_odd_shapes(monkeypatch, capsys, server, tmp_path, shape, name):
    text, expected = INVENTORIES[shape]
    path = tmp_path / "inventory.py"
    if isinstance(text, str):
        path.write_text(text.replace("PORT", str(server.port)))
    else:
        path.write_bytes(text)
    assert expected in one_line(monkeypatch, capsys, server, *command(name, str(path)))


SHARDED = ("apply", "verify", "status", "exec", "bootstrap")
TYPED = [
    (name, args, said)
    for name in COMMANDS
    for args, said in [
        (("--limit", "nothere"), "--limit nothere matches no host"),
        (("--exclude", "web1,web2"), "--exclude leaves no host"),
        (("--data", "docker_version"), "--data 'docker_version' must look like KEY=VALUE"),
        (("--data", "docker_versions=1"), "docker_versions is not a setting"),
        (("--parallel", "0"), "--parallel"),
        (("--shard", "3/2"), "--shard"),
        (("--profile", "runner"), "--profile"),
        (("--bogus",), "No such option '--bogus'"),
    ]
    if not (args[0] == "--shard" and name not in SHARDED)
    and not (args[0] == "--parallel" and name in ("status", "uninstall", "bootstrap"))
    and not (args[0] == "--profile" and name not in ("apply", "verify", "status"))
    and not (args[0] == "--data" and name in ("exec", "bootstrap"))
]


@pytest.mark.parametrize(
    ("name", "args", "said"), TYPED, ids=[" ".join(t[:1] + t[1]) for t in TYPED]
)
def test_what_a_user_types_wrong_is_one_line_for_every_command(
    monkeypatch, capsys, server, inventory, name, args, said
):
    line = one_line(monkeypatch, capsys, server, *command(name, inventory, *args))
    assert said in line


@pytest.mark.parametrize(
    ("name", "args", "data", "said"),
    [
        ("audit", (), {"docker_audit_waivers": {"9.9": "no such check"}}, "names 9.9, which"),
        ("audit", (), {"docker_audit_waivers": ["2.1"]}, "docker_audit_waivers must map"),
        ("bootstrap", ("--password-env", "PROVISION_NO_SUCH_VARIABLE"), {}, "is not set"),
        ("bootstrap", (), {"ssh_user": "root"}, "cannot be the deploy user"),
        ("verify", ("--profile", "docker"), {"ci_runner_user": "ci"}, "ci_runner_user is a"),
        ("status", (), {"ci_runner_user": "ci"}, "set provision_profile: ci-runner"),
    ],
    ids=["unknown waiver", "waivers a list", "no password", "root", "profile", "status profile"],
)
def test_settings_of_one_command_are_checked_before_any_host(
    monkeypatch, capsys, server, tmp_path, deploy_key, name, args, data, said
):
    path = tmp_path / "inventory.py"
    path.write_text(server.inventory(2, ssh_key=deploy_key, **data))
    assert said in one_line(monkeypatch, capsys, server, *command(name, str(path), *args))


def test_an_inventory_directory(monkeypatch, capsys, server, tmp_path):
    line = one_line(monkeypatch, capsys, server, "apply", "-i", str(tmp_path))
    assert (
        line == f"error: inventory {tmp_path} is a directory; pass a pyinfra inventory file (.py)."
    )


@pytest.mark.parametrize("file", ["id_ed25519.pub", "copied_key"])
def test_an_ssh_key_that_is_the_public_half(monkeypatch, capsys, server, tmp_path, file):
    key = tmp_path / file
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBL0gwHbpTtvLXsDU0pb user@host\n")
    path = tmp_path / "inventory.py"
    path.write_text(server.inventory(3, ssh_key=str(key)))
    line = one_line(monkeypatch, capsys, server, "apply", "-i", str(path))
    assert line.endswith(f"web1–web3: ssh_key {key} is a public key; name the private key file.")


def test_a_problem_shared_by_fifty_hosts_is_said_once(monkeypatch, capsys, server, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(server.inventory(50, docker_user=["deploy"]))
    line = one_line(monkeypatch, capsys, server, "apply", "-i", str(path))
    assert line.startswith("error: invalid settings: web1–web50: docker_user is not a setting")
    assert line.count("docker_user is not") == 1 and len(line) < 200


def test_the_limit_error_does_not_list_every_host(monkeypatch, capsys, server, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(server.inventory(50))
    line = one_line(monkeypatch, capsys, server, "apply", "-i", str(path), "--limit", "web51")
    assert line.endswith("(50 hosts in 2 groups); did you mean web5?") or "web50" in line
    assert "web17" not in line


def test_uninstall_in_a_pipeline_refuses_without_yes(monkeypatch, capsys, server, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(server.inventory(20))
    monkeypatch.setattr("provision.cli.runs.interactive", lambda: False)
    line = one_line(monkeypatch, capsys, server, "uninstall", "-i", str(path))
    assert line == (
        "error: uninstall removes Docker from web1–web20; no terminal to ask on, so pass --yes "
        "(or --dry to see what it would remove)."
    )


def test_no_color_keeps_the_error_line_plain(monkeypatch, capsys, server, inventory):
    import click

    said = []
    monkeypatch.setattr(click, "secho", lambda text, **kw: said.append(kw.get("fg")))
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit):
        monkeypatch.setattr(sys, "argv", ["provision", "apply", "-i", "/nonexistent.py"])
        main()
    monkeypatch.delenv("NO_COLOR")
    with pytest.raises(SystemExit):
        main()
    assert said == [None, "red"]


# a host that drops the SSH handshake is a row ----------------------------------------------


@pytest.mark.parametrize("name", COMMANDS)
def test_a_dropped_handshake_is_a_row_not_a_traceback(monkeypatch, capsys, server, inventory, name):
    code, out, err = run_main(monkeypatch, capsys, *command(name, inventory, "--json"))
    assert code == 1 and server.accepted >= 2
    document = json.loads(out)  # --json: one document, nothing else on stdout
    assert sorted(document["hosts"]) == ["web1", "web2"]
    assert "paramiko" not in err and "Exception" not in err


def test_verbose_shows_the_ssh_layer(monkeypatch, capsys, server, inventory):
    from provision.core import logs

    try:
        args = ("apply", "-i", inventory, "-vv", "--json")
        code, out, err = run_main(monkeypatch, capsys, *args, tracebacks=True)
    finally:
        logs.configure(0)
    assert code == 1 and json.loads(out)["summary"]["failed"] == 2
    assert "paramiko.transport: DEBUG: " in err and "Traceback" not in out


# Ctrl-C and SIGTERM at several moments ------------------------------------------------------


@pytest.fixture
def silent(tmp_path):
    server = FakeServer("silent", tmp_path)
    yield server
    server.close()


def signal_in(seconds: float, name: str):
    """Send this process signal ``name`` after ``seconds`` (from a process of its own)."""
    import os
    import subprocess

    return subprocess.Popen(["sh", "-c", f"sleep {seconds}; kill -{name} {os.getpid()}"])


# every command that reports, in every mode: ARGS after `-i INVENTORY`, and its report files
MODES = {
    "apply": ["apply", "--junit", "{junit}"],
    "apply --dry": ["apply", "--dry", "--junit", "{junit}"],
    "apply --batch": ["apply", "--batch", "1", "--junit", "{junit}"],
    "apply --resume": ["apply", "--resume", "{resume}", "--junit", "{junit}"],
    "verify": ["verify", "--junit", "{junit}"],
    "status": ["status"],
    "uninstall": ["uninstall", "--yes", "--junit", "{junit}"],
    "uninstall --dry": ["uninstall", "--dry", "--junit", "{junit}"],
    "exec": ["exec", "--", "true"],
    "bootstrap": ["bootstrap", "--initial-user", "root"],
    "audit": ["audit", "--junit", "{junit}", "--prometheus", "{prometheus}"],
}


def mode_args(mode: str, inventory: str, tmp_path) -> list[str]:
    """``provision MODE -i inventory --json --report FILE`` with the mode's other outputs."""
    resume = tmp_path / "rollout.json"
    resume.write_text('{"rollout": {"batch": "1"}, "hosts": {"web1": {"state": "failed"}}}')
    files = {
        "junit": str(tmp_path / "junit.xml"),
        "prometheus": str(tmp_path / "audit.prom"),
        "resume": str(resume),
    }
    name, *rest = (arg.format(**files) for arg in MODES[mode])
    extra = rest[rest.index("--") :] if "--" in rest else []
    options = rest[: len(rest) - len(extra)]
    return [name, "-i", inventory, *options, "--json", "--report", str(tmp_path / "r.json"), *extra]


def interrupted_run(monkeypatch, capsys, server, tmp_path, mode, key, name, sender=None):
    """Run ``mode`` against 3 hosts of ``server`` until signal ``name`` stops it: its code,
    JSON document and how long it took; its report files are checked against the document."""
    import time

    path = tmp_path / "inventory.py"
    path.write_text(server.inventory(3, ssh_connect_timeout=60, ssh_key=key))
    args = mode_args(mode, str(path), tmp_path)
    started = time.monotonic()
    exit_code, out, err = run_main(monkeypatch, capsys, *args)
    took = time.monotonic() - started
    if sender:
        sender.wait()
    document = json.loads(out)  # one JSON document on stdout, and nothing else
    assert document == json.loads((tmp_path / "r.json").read_text())
    assert document["interrupted"] == f"SIG{name}"
    if "{junit}" in MODES[mode]:
        import xml.etree.ElementTree as ET

        assert ET.parse(tmp_path / "junit.xml").getroot().tag == "testsuites"
    if mode == "audit":
        prometheus = (tmp_path / "audit.prom").read_text()
        assert 'provision_docker_audit_host_read{host="web1"} 0' in prometheus
    return exit_code, document, took


def unfinished(document: dict) -> list[str]:
    """The hosts a report (of any command) says were stopped or not run."""
    hosts = document["hosts"]
    return sorted(
        name
        for name, host in hosts.items()
        if host.get("status") == "interrupted"
        or host.get("state") in ("interrupted", "not attempted")
        or "interrupted" in (host.get("error") or "")
    )


SIGNALS = [("TERM", 143), ("INT", 130)]


@pytest.mark.parametrize(("name", "code"), SIGNALS)
@pytest.mark.parametrize("mode", MODES)
def test_a_signal_while_connecting_ends_the_run_with_its_reports(
    monkeypatch, capsys, silent, tmp_path, deploy_key, name, code, mode
):
    sender = signal_in(1, name)
    exit_code, document, took = interrupted_run(
        monkeypatch, capsys, silent, tmp_path, mode, deploy_key, name, sender
    )
    assert exit_code == code and took < 10  # not the 60 s (or ssh's 15 s) connect timeout
    assert unfinished(document) == ["web1", "web2", "web3"][: len(unfinished(document))]
    assert unfinished(document)


@pytest.mark.parametrize(("name", "code"), SIGNALS)
@pytest.mark.parametrize("mode", MODES)
def test_a_signal_at_first_contact_ends_the_run_with_its_reports(
    monkeypatch, capsys, tmp_path, deploy_key, name, code, mode
):
    import signal
    import time

    server = FakeServer("silent", tmp_path, signal_on_accept=getattr(signal, f"SIG{name}"))
    try:
        exit_code, document, took = interrupted_run(
            monkeypatch, capsys, server, tmp_path, mode, deploy_key, name
        )
        stopped_in = time.time() - server.signalled  # the reports written, too
    finally:
        server.close()
    assert exit_code == code and took < 10
    assert stopped_in < 1.5, stopped_in  # within a second (and some for a loaded machine)
    assert unfinished(document)


@pytest.mark.parametrize(("name", "code"), [("TERM", 143), ("INT", 130)])
@pytest.mark.parametrize("mode", MODES)
def test_a_signal_before_any_host_is_one_line(
    monkeypatch, capsys, server, inventory, tmp_path, name, code, mode
):
    import os
    import signal

    from provision.orchestrate import inventory as fleet_inventory

    load = fleet_inventory.load

    def interrupted_load(*args, **kwargs):
        os.kill(os.getpid(), getattr(signal, f"SIG{name}"))
        return load(*args, **kwargs)

    monkeypatch.setattr(fleet_inventory, "load", interrupted_load)
    exit_code, out, err = run_main(monkeypatch, capsys, *mode_args(mode, inventory, tmp_path))
    assert (exit_code, out) == (code, "")
    assert err.strip() == f"error: interrupted by SIG{name}."
    assert not (tmp_path / "r.json").exists()  # nothing was done, so no report either
    assert server.accepted == 0


# the profile: chosen in the inventory or on the command line --------------------------------


def profile_of(tmp_path, text: str, *args: str, limit=()):
    """The profiles ``load_fleet`` chooses for inventory ``text`` and ``--profile ARGS[0]``."""
    from provision.cli.common import load_fleet

    path = tmp_path / f"inventory{len(list(tmp_path.iterdir()))}.py"  # pyinfra caches by path
    path.write_text(text)
    return load_fleet(str(path), limit, profile=args[0] if args else None).profile


RUNNERS = """\
runners = (["r1", "r2"], {"provision_profile": "ci-runner", "ci_runner_user": "ci"})
"""


def test_a_group_chooses_the_ci_runner_profile(tmp_path):
    from provision import profiles

    runner, docker = profiles.profile("ci-runner"), profiles.profile("docker")
    assert profile_of(tmp_path, RUNNERS).suites == {"r1": runner.suites, "r2": runner.suites}
    assert profile_of(tmp_path, "hosts = ['a']\n").suites == {"a": docker.suites}
    assert profile_of(tmp_path, "hosts = ['a']\n", "ci-runner").of("a") == runner


MIXED = RUNNERS + "web = ['web1', 'web2']\n"


@pytest.mark.parametrize(
    ("limit", "args", "expected"),
    [
        ((), (), {"r1": "ci-runner", "r2": "ci-runner", "web1": "docker", "web2": "docker"}),
        (("r1,web2",), (), {"r1": "ci-runner", "web2": "docker"}),
        (("runners",), (), {"r1": "ci-runner", "r2": "ci-runner"}),
        (("web",), (), {"web1": "docker", "web2": "docker"}),
        (("web",), ("ci-runner",), {"web1": "ci-runner", "web2": "ci-runner"}),
    ],
    ids=["all", "limit mixed", "limit runners", "limit web", "--profile wins"],
)
def test_each_host_runs_the_profile_its_inventory_chooses(tmp_path, limit, args, expected):
    assert dict(profile_of(tmp_path, MIXED, *args, limit=limit).names) == expected


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (
            "hosts = [('a', {'ci_runner_user': 'ci'}), ('b', {'ci_runner_user': 'ci'})]\n",
            (),
            "invalid settings: a, b: ci_runner_user is a setting of the ci-runner profile; set "
            "provision_profile: ci-runner or pass --profile ci-runner.",
        ),
        (
            "hosts = [('a', {'provision_profile': 'runner'})]\n",
            (),
            "invalid settings: a: provision_profile must be one of docker, ci-runner, got "
            "'runner'.",
        ),
        (
            RUNNERS,
            ("docker",),
            "invalid settings: r1–r2: ci_runner_user is a setting of the ci-runner profile",
        ),
    ],
    ids=["settings without it", "unknown", "overridden"],
)
def test_profiles_refused(tmp_path, text, args, message):
    from provision.core.errors import UsageError

    with pytest.raises(UsageError) as raised:
        profile_of(tmp_path, text, *args)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("limit", [(), ("--limit", "r2,web1")])
def test_verify_uses_the_profile_the_inventory_chooses(monkeypatch, capsys, tmp_path, limit):
    from provision import profiles
    from provision.verify import run as runner

    seen = []

    def fake_verify(fleet, parallel, suites):
        seen.append(suites)
        return runner.VerifyResult({})

    monkeypatch.setattr(runner, "verify", fake_verify)
    path = tmp_path / "inventory.py"
    path.write_text(MIXED)
    code, _, _ = run_main(monkeypatch, capsys, "verify", "-i", str(path), *limit, "--json")
    runner_suites, docker_suites = (profiles.profile(n).suites for n in ("ci-runner", "docker"))
    expected = {"r1": runner_suites, "r2": runner_suites, "web1": docker_suites}
    expected["web2"] = docker_suites
    if limit:
        expected = {"r2": runner_suites, "web1": docker_suites}
    assert code == 0 and seen == [expected]


def test_verify_runs_one_pytest_per_set_of_suites(monkeypatch, tmp_path):
    """A mixed fleet's hosts are checked by one pytest each for the Docker and the runner
    checks, at once: each host's checks come only from its own profile's suites."""
    from provision import profiles
    from provision.cli.common import load_fleet
    from provision.verify import run as runner

    started = []
    real_start = runner._start

    def start(names, work, parallel, suites, found):
        started.append((names, suites))
        return real_start(names, work, parallel, suites, found)

    monkeypatch.setattr(runner, "_start", start)
    path = tmp_path / "inventory.py"
    path.write_text(MIXED.replace("'web1', 'web2'", "('web1', {'ssh_port': 1})"))
    loaded = load_fleet(str(path), ("r1,web1",), profile=None)
    result = runner.verify(loaded.fleet, None, loaded.profile.suites)
    assert started == [
        (["r1"], profiles.profile("ci-runner").suites),
        (["web1"], profiles.profile("docker").suites),
    ]
    assert sorted(result.hosts) == ["r1", "web1"] and not result.ok


@pytest.mark.parametrize(("name", "code"), [("TERM", 143), ("INT", 130)])
def test_a_signal_during_verify_ends_it_with_its_report(
    monkeypatch, capsys, silent, tmp_path, name, code
):
    path = tmp_path / "inventory.py"
    path.write_text(silent.inventory(2))
    report = tmp_path / "report.json"
    sender = signal_in(2, name)
    args = ("verify", "-i", str(path), "--json", "--report", str(report))
    exit_code, out, err = run_main(monkeypatch, capsys, *args)
    sender.wait()
    assert exit_code == code
    document = json.loads(out)
    assert document == json.loads(report.read_text())
    assert document["interrupted"] == f"SIG{name}"
    assert (
        document["hosts"]["web1"]["error"]
        == f"web1: interrupted by SIG{name} before it was checked."
    )


@pytest.mark.parametrize(("name", "code"), SIGNALS)
@pytest.mark.parametrize("mode", ["apply", "apply --batch", "audit", "exec"])
def test_a_signal_while_the_reports_are_written_waits_for_them(
    monkeypatch, capsys, server, inventory, tmp_path, name, code, mode
):
    import os
    import signal

    from provision.report import documents as report

    write = report.write_json

    def interrupted_write(path, data):
        os.kill(os.getpid(), getattr(signal, f"SIG{name}"))
        write(path, data)

    monkeypatch.setattr(report, "write_json", interrupted_write)
    exit_code, out, err = run_main(monkeypatch, capsys, *mode_args(mode, inventory, tmp_path))
    assert exit_code == code
    document = json.loads(out)
    assert document == json.loads((tmp_path / "r.json").read_text())  # written whole
    if "{junit}" in MODES[mode]:  # and the files after it too
        assert (tmp_path / "junit.xml").read_text().startswith("<?xml")
    if mode == "audit":
        assert (tmp_path / "audit.prom").exists()
    if mode == "apply --batch":  # written after a batch: the rollout stops there
        assert document["interrupted"] == f"SIG{name}"
    else:  # written at the end: the run had finished
        assert err.strip().splitlines()[-1] == f"error: interrupted by SIG{name}."
