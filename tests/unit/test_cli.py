"""The ``provision`` command: help, exit codes, and whole runs on pyinfra's ``@fake`` hosts."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from provision.cli import cli, main

from .fakes import converged_machine, fake_responses, fresh_machine, synthetic_key

PROVISION = Path(sys.executable).with_name("provision")


def all_commands(group: click.Group, prefix=()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("args", [(), *all_commands(cli)], ids=lambda a: " ".join(a) or "cli")
def test_help_of_every_command(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


def test_apply_needs_an_inventory():
    result = CliRunner().invoke(cli, ["apply"])
    assert result.exit_code == 2
    assert "Missing option '-i' / '--inventory'" in result.output


@pytest.mark.skipif(not PROVISION.exists(), reason="the console script is not installed")
def test_console_script_reports_a_missing_inventory_with_exit_code_2():
    done = subprocess.run(
        [str(PROVISION), "apply", "-i", "/nonexistent.py"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: inventory /nonexistent.py does not exist; pass a pyinfra inventory file (.py)."
    )
    assert "Traceback" not in done.stderr and done.stdout == ""


def run_main(monkeypatch, capsys, *args: str):
    """``provision ARGS`` in this process; exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["provision", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return exited.value.code, out, err


UNREACHABLE = """\
web = ["web1.invalid", ("web2.invalid", {"docker_users": ["alice"]})]
"""


@pytest.fixture
def unreachable(tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(UNREACHABLE)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "docker_channel"], "error: --data 'docker_channel' must look like KEY=VALUE."),
        (
            ["--data", "docker_channel=nightly"],
            "error: invalid settings: web1.invalid–web2.invalid: docker_channel must be one of "
            "stable, test, got 'nightly'.\n",
        ),
        (["--limit", "db*"], "error: --limit db* matches no host or group of "),
    ],
    ids=["data", "settings", "limit"],
)
@pytest.mark.parametrize("command", ["apply", "verify", "status", "uninstall", "audit"])
def test_usage_errors_exit_2_before_any_host_is_touched(
    monkeypatch, capsys, unreachable, command, args, message
):
    code, out, err = run_main(monkeypatch, capsys, command, "-i", unreachable, *args)
    assert code == 2
    assert err.startswith(message)
    assert out == ""


def test_invalid_settings_of_two_hosts_in_one_message(monkeypatch, capsys, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(
        'hosts = [("a1", {"docker_channel": "edge"}), ("a2", {"docker_users": ["A B"]})]\n'
    )
    code, _, err = run_main(monkeypatch, capsys, "apply", "-i", str(path))
    assert code == 2
    assert "a1: docker_channel must be one of" in err
    assert "a2: docker_users has invalid user names: 'A B'" in err
    assert err.count("\n") == 1  # one line


def test_uninstall_asks_first(monkeypatch, unreachable):
    monkeypatch.setattr("provision.cli.runs.interactive", lambda: True)
    result = CliRunner().invoke(cli, ["uninstall", "-i", unreachable], input="n\n")
    assert "Remove Docker from web1.invalid–web2.invalid?" in result.output
    assert result.exit_code == 1 and "Nothing removed." in result.output


# whole runs on @fake hosts ------------------------------------------------------------------

FAKE_INVENTORY = """\
import json
import re

_responses = json.loads({responses!r})
_responses[re.compile(r"; exit 1$")] = {{"success": False, "stderr": ["refused"]}}
_fake = {{"fake_responses": _responses, "fake_delay": 0, "fake_delay_jitter": 0}}

hosts = [("@fake/web1", {{**_fake, **{data!r}}})]
"""


def fake_inventory(tmp_path: Path, machine, **data) -> str:
    responses = {
        key: value for key, value in fake_responses(machine).items() if isinstance(key, str)
    }
    path = tmp_path / "fake.py"
    path.write_text(FAKE_INVENTORY.format(responses=json.dumps(responses), data=data))
    return str(path)


def test_apply_on_a_converged_host(tmp_path):
    inventory = fake_inventory(tmp_path, converged_machine())
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    result = CliRunner().invoke(
        cli, ["apply", "-i", inventory, "--report", str(report), "--junit", str(junit)]
    )
    assert result.exit_code == 0, result.output
    assert "@fake/web1" in result.output and "unchanged" in result.output
    data = json.loads(report.read_text())
    assert data["summary"] == {"hosts": 1, "changed": 0, "unchanged": 1, "failed": 0}
    assert data["hosts"]["@fake/web1"]["changed_operations"] == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")


def test_apply_on_a_fresh_host_changes_it(tmp_path):
    machine = fresh_machine(urls=converged_machine().urls)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["apply", "-i", fake_inventory(tmp_path, machine), "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    host = json.loads(report.read_text())["hosts"]["@fake/web1"]
    assert host["status"] == "changed" and host["changed_operations"] >= 6


def test_apply_exits_1_when_a_host_fails(tmp_path):
    machine = fresh_machine(
        urls={"https://download.docker.com/linux/debian/gpg": synthetic_key(b"x")}
    )
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(
        cli, ["apply", "-i", fake_inventory(tmp_path, machine), "--junit", str(junit)]
    )
    assert result.exit_code == 1
    assert "failed" in result.output
    failure = ET.parse(junit).getroot().find("testsuite/testcase/failure")
    assert "nothing was written" in failure.get("message")


def test_dry_apply_changes_nothing(tmp_path):
    from .test_deploy import run

    machine = fresh_machine(urls=converged_machine().urls)
    result, commands = run({"web1": (machine, {})}, dry=True)
    host = result.hosts["@fake/web1"]
    assert host.status == "changed" and host.changed_operations > 5  # the whole install...
    assert commands["web1"] == []  # ...planned, and no command but the reading of facts ran
    real, commands = run({"web1": (machine, {})})
    assert real.hosts["@fake/web1"].changed == host.changed and commands["web1"]
    inventory = fake_inventory(tmp_path, machine)
    output = CliRunner().invoke(cli, ["apply", "-i", inventory, "--dry"]).output
    assert f"@fake/web1: {host.changed_operations} operations would change" in output


def test_status_shows_versions(tmp_path):
    inventory = fake_inventory(tmp_path, converged_machine())
    report = tmp_path / "status.json"
    result = CliRunner().invoke(cli, ["status", "-i", inventory, "--report", str(report)])
    assert result.exit_code == 0, result.output
    facts = json.loads(report.read_text())["facts"]["@fake/web1"]
    assert facts["os"] == "Debian GNU/Linux 12 (bookworm) (amd64)"
    assert facts["docker"] == "5:26.1.5-1~debian.12~bookworm"
    assert facts["compose"].startswith("2.29.1")
    assert facts["channel"] == "stable"
    assert facts["docker_service"] == "active/enabled"


def test_uninstall_dry_json_plans_and_changes_nothing(tmp_path):
    inventory = fake_inventory(tmp_path, converged_machine())
    report = tmp_path / "uninstall.json"
    result = CliRunner().invoke(
        cli, ["uninstall", "-i", inventory, "--dry", "--json", "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # no prompt: --dry changes nothing
    assert data == json.loads(report.read_text())
    assert data["command"] == "uninstall" and data["dry"] is True
    host = data["hosts"]["@fake/web1"]
    assert host["status"] == "changed" and host["changed_operations"] >= 1


def test_an_empty_shard_is_a_json_document_too(tmp_path):
    inventory = fake_inventory(tmp_path, converged_machine())
    result = CliRunner().invoke(cli, ["status", "-i", inventory, "--shard", "2/2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"] == {"hosts": 0}


@pytest.mark.parametrize(
    "data",
    [
        {"ssh_proxy_jump": "a$(touch${{IFS}}{marker})@host"},
        {"ssh_hostname": "$(touch {marker})"},
        {"ssh_user": "-oProxyCommand=touch {marker}"},
        {"ssh_hostname": "10.0.0.1\u2028ProxyCommand touch {marker}"},
    ],
    ids=["proxy-jump", "hostname", "user", "line-separator"],
)
@pytest.mark.parametrize("command", ["apply", "verify", "status"])
def test_hostile_connection_values_are_one_line_and_exit_2(
    monkeypatch, capsys, tmp_path, command, data
):
    marker = tmp_path / "marker"
    data = {key: value.format(marker=marker) for key, value in data.items()}
    path = tmp_path / "inventory.py"
    path.write_text(f"hosts = [('web1', {data!r})]\n")
    code, out, err = run_main(monkeypatch, capsys, command, "-i", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: host web1: ssh_") and "fix its value." in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not marker.exists()


def test_a_password_is_never_shown_in_a_refusal(monkeypatch, capsys, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text("hosts = [('web1', {'ssh_password': 'hunter2\\n', 'ssh_hostname': 'h1'})]\n")
    code, _, err = run_main(monkeypatch, capsys, "apply", "-i", str(path))
    assert code == 2 and "ssh_password holds a control character (***)" in err
    assert "hunter2" not in err
    path = tmp_path / "proxied.py"
    path.write_text("hosts = [('web1', {'docker_proxy': {'https': 'http://ops:s3cret@p x'}})]\n")
    code, _, err = run_main(monkeypatch, capsys, "apply", "-i", str(path))
    assert code == 2 and "docker_proxy['https'] must be" in err and "http://***@p x" in err
    assert "s3cret" not in err


CREDENTIALED = {
    "docker_proxy": {"https": "http://ops:s3cret-pw@proxy.internal:3128", "no_proxy": ["x"]},
    "apt_proxy": "http://apt:s3cret-pw@proxy.internal:3142",
    "docker_registry_mirrors": ["https://pull:s3cret-pw@mirror.internal"],
}


@pytest.mark.parametrize("flags", [["--dry"], ["--dry", "--json"]])
def test_credentials_appear_in_no_output_report_or_junit(tmp_path, flags):
    machine = fresh_machine(urls=converged_machine().urls)
    inventory = fake_inventory(tmp_path, machine, **CREDENTIALED)
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    result = CliRunner().invoke(
        cli, ["apply", "-i", inventory, *flags, "--report", str(report), "--junit", str(junit)]
    )
    assert result.exit_code == 0, result.output
    written = result.output + report.read_text() + junit.read_text()
    assert "s3cret" not in written
    changes = json.loads(report.read_text())["hosts"]["@fake/web1"]["changes"]
    diffs = "".join(change.get("diff", "") for change in changes)
    assert "http://***@proxy.internal:3128" in diffs  # daemon.json and the systemd drop-in
    assert '"http://proxy.internal:3142"' in diffs  # apt's proxy file: its login goes apart
    logins = [c for c in changes if c["operation"] == "apt's proxy login"]
    assert logins[0]["changes"][0].endswith("(a login: contents not shown)")
    assert "diff" not in logins[0]
    if "--json" not in flags:
        assert "http://***@proxy.internal" in result.output


def test_host_data_that_looks_like_markup_is_shown_literally(tmp_path):
    machine = converged_machine()
    machine.os_release = machine.os_release.replace(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', 'PRETTY_NAME="Debian [/] [bold]12"'
    )
    result = CliRunner().invoke(cli, ["status", "-i", fake_inventory(tmp_path, machine)])
    assert result.exit_code == 0, result.output
    assert "Debian [/] [bold]12" in result.output
