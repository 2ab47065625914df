"""Inventory loading and host selection, ``--data``, JUnit parsing and reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from provision.core.errors import UsageError
from provision.docker.validation import from_host_data
from provision.orchestrate.inventory import load, parse_data
from provision.orchestrate.results import FleetResult, HostResult
from provision.report import documents
from provision.report import tables as report
from provision.verify.run import (
    Check,
    HostChecks,
    VerifyResult,
)

# parse_data ---------------------------------------------------------------------------------

DOCKER_CHECKS = (from_host_data,)


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("docker_version=26.1.5", "26.1.5"),
        ("docker_channel=test", "test"),
        ("docker_hold=true", True),
        ("docker_hold=True", True),
        ("docker_hold=FALSE", False),
        ("docker_apt_lock_timeout=60", 60),
        ("docker_apt_lock_timeout=-1", "-1"),
        ("docker_version=28.10", "28.10"),
        ("docker_version=27", 27),
        ('docker_users=["alice", "bob"]', ["alice", "bob"]),
        ("docker_users=['alice']", ["alice"]),
        ("docker_users=[alice]", "[alice]"),
        ("docker_users=('alice',)", "('alice',)"),
        (
            'docker_daemon_options={"log-driver": "local", "debug": true}',
            {
                "log-driver": "local",
                "debug": True,
            },
        ),
        ("docker_daemon_options={'debug': True}", {"debug": True}),
        ("docker_version=None", None),
        ("docker_version=null", None),
        ("docker_repo_url=https://mirror.example.org/a=b", "https://mirror.example.org/a=b"),
        ("docker_users=alice bob", "alice bob"),
        ("docker_gpg_key_url=", ""),
    ],
)
def test_parse_data_values(item, value):
    key = item.partition("=")[0]
    assert parse_data([item]) == {key: value}


def test_parse_data_later_items_win():
    assert parse_data(("docker_channel=test", "docker_channel=stable")) == {
        "docker_channel": "stable"
    }


@pytest.mark.parametrize("item", ["docker_hold", "=true", ""])
def test_parse_data_requires_key_equals_value(item):
    with pytest.raises(UsageError, match=r"must look like KEY=VALUE\.$") as raised:
        parse_data([item])
    assert repr(item) in str(raised.value)


def test_parse_data_keeps_versions_as_written():
    assert parse_data(["docker_version=28.10", "docker_version=26.1.5"]) == {
        "docker_version": "26.1.5"
    }
    assert parse_data(["docker_version=28.10"]) == {"docker_version": "28.10"}


# load ---------------------------------------------------------------------------------------

INVENTORY = """\
web = [
    "web1",
    ("web2", {"docker_users": ["alice"]}),
]
db = [("db1", {"docker_channel": "test"})]
"""


def inventory_file(tmp_path: Path, text: str, name: str = "inventory.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def load_error(tmp_path: Path, text: str) -> tuple[str, str]:
    """The inventory file written from ``text``, and the ``UsageError`` loading it raises."""
    path = inventory_file(tmp_path, text)
    with pytest.raises(UsageError) as raised:
        load(path)
    return path, str(raised.value)


def names(fleet) -> list[str]:
    return [host.name for host in fleet.hosts]


def test_load_reads_hosts_groups_and_data(tmp_path):
    fleet = load(inventory_file(tmp_path, INVENTORY))
    assert names(fleet) == ["web1", "web2", "db1"]
    assert {"web", "db"} <= set(fleet.inventory.groups)
    web2 = fleet.inventory.get_host("web2")
    assert web2.data.docker_users == ["alice"]
    assert fleet.inventory.get_host("db1").data.docker_channel == "test"


@pytest.mark.parametrize(
    ("limit", "selected"),
    [
        (["web2"], ["web2"]),
        (["db"], ["db1"]),
        (["web*"], ["web1", "web2"]),
        (["db1", "web"], ["db1", "web1", "web2"]),
        (["web1", "web"], ["web1", "web2"]),
        (["*1"], ["web1", "db1"]),
    ],
)
def test_limit_selects_by_name_group_and_glob(tmp_path, limit, selected):
    assert names(load(inventory_file(tmp_path, INVENTORY), limit)) == selected


def test_unknown_limit_lists_hosts_and_groups(tmp_path):
    path = inventory_file(tmp_path, INVENTORY)
    with pytest.raises(UsageError) as raised:
        load(path, ["cache*"])
    message = str(raised.value)
    assert message == (
        f"--limit cache* matches no host or group of {path} (3 hosts in 3 groups); pass a name, "
        "glob or group."
    )
    with pytest.raises(UsageError, match=r"--limit db11 .*; did you mean db1\?$"):
        load(path, ["db11"])
    with pytest.raises(UsageError, match=r"--exclude cache .*; pass a name, glob or group\.$"):
        load(path, exclude=["cache"])


def test_limit_takes_commas_and_exclude_leaves_hosts_out(tmp_path):
    path = inventory_file(tmp_path, INVENTORY)
    assert names(load(path, ["web1,db1"])) == ["web1", "db1"]
    assert names(load(path, ["web1, db1", "web2"])) == ["web1", "db1", "web2"]
    assert names(load(path, exclude=["db"])) == ["web1", "web2"]
    assert names(load(path, ["web*"], exclude=["web2"])) == ["web1"]
    with pytest.raises(UsageError, match="^--exclude leaves no host of "):
        load(path, ["db1"], exclude=["db"])


def test_data_overrides_host_data(tmp_path):
    fleet = load(inventory_file(tmp_path, INVENTORY), data={"docker_channel": "stable"})
    assert fleet.inventory.get_host("db1").data.docker_channel == "stable"


def test_missing_inventory(tmp_path):
    with pytest.raises(UsageError, match=r"inventory .*nope\.py does not exist"):
        load(str(tmp_path / "nope.py"))


def test_syntax_error_names_the_file_and_line(tmp_path):
    path, message = load_error(tmp_path, 'hosts = [\n    "web1",\n    "web2"\n    "web3",,\n]\n')
    assert message.startswith(f"{path}, line 4: ")
    assert message.endswith("; fix the inventory file.")


def test_error_raised_by_the_inventorys_code_names_the_line(tmp_path):
    path, message = load_error(tmp_path, 'hosts = ["web1"]\nport = int("twenty-two")\n')
    assert message == (
        f"{path}, line 2: invalid literal for int() with base 10: 'twenty-two'; "
        "fix the inventory file."
    )


def test_inventory_without_hosts(tmp_path):
    with pytest.raises(UsageError, match="has no hosts"):
        load(inventory_file(tmp_path, "hosts = []\n"))


def test_missing_ssh_key_is_a_usage_error(tmp_path):
    key = tmp_path / "keys" / "id_ed25519"
    path, message = load_error(tmp_path, f'hosts = [("web1", {{"ssh_key": "{key}"}})]\n')
    assert message == f"{path}: web1: ssh_key {key} does not exist; fix the path."
    key.parent.mkdir()
    key.write_text("not really a key")
    assert names(load(path)) == ["web1"]


@pytest.mark.parametrize("address", ["None", "''", "'  '"])
def test_a_host_without_an_address_is_a_usage_error(tmp_path, address):
    path, message = load_error(tmp_path, f'hosts = [("web1", {{"ssh_hostname": {address}}})]\n')
    assert message == (
        f"{path}: host web1 has no address (ssh_hostname is {address}); set ssh_hostname to "
        "its DNS name or IP address, or remove it to use the name."
    )


def test_connection_data_of_every_host_is_checked_at_once(tmp_path):
    text = 'hosts = [("web1", {"ssh_port": "22x"}), ("web2", {"ssh_user": 7}), "web3"]\n'
    path, message = load_error(tmp_path, text)
    assert message.startswith(f"{path}: host web1: ssh_port is '22x': ")
    assert "host web2: ssh_user is 7: " in message and "web3" not in message
    assert message.endswith("; fix its value.")
    good = 'hosts = [("web1", {"ssh_hostname": "10.0.0.1", "ssh_port": 2222, "ssh_user": "a"})]\n'
    assert names(load(inventory_file(tmp_path, good, "good.py"))) == ["web1"]


def test_a_control_character_in_connection_data_is_a_usage_error(tmp_path):
    text = 'hosts = [("web1", {"ssh_hostname": "10.0.0.1\\n  ProxyCommand touch /tmp/x"})]\n'
    path, message = load_error(tmp_path, text)
    assert message == (
        f"{path}: host web1: ssh_hostname holds a control character "
        "('10.0.0.1\\n  ProxyCommand touch /tmp/x'); fix its value."
    )


def test_a_host_with_an_empty_name_is_a_usage_error(tmp_path):
    path, message = load_error(tmp_path, 'hosts = ["web1", ""]\n')
    assert message == f"{path}: a host has an empty name; fix the inventory file."


def test_settings_of_every_bad_host_in_one_message(tmp_path):
    text = INVENTORY + (
        'bad = [("bad1", {"docker_channel": "nightly"}), '
        '("bad2", {"docker_hold": "yes", "docker_users": ["Bad User"]})]\n'
    )
    fleet = load(inventory_file(tmp_path, text))
    with pytest.raises(UsageError) as raised:
        fleet.settings(DOCKER_CHECKS)
    message = str(raised.value)
    assert message.startswith("invalid settings: bad1: docker_channel must be one of")
    assert "bad2: docker_hold must be true or false" in message
    assert "docker_users has invalid user names: 'Bad User'" in message
    good = load(inventory_file(tmp_path, INVENTORY, "good.py")).settings(DOCKER_CHECKS)
    assert good["db1"].docker_channel == "test" and good["web2"].docker_users == ("alice",)


# reports ------------------------------------------------------------------------------------


def fleet_result() -> FleetResult:
    return FleetResult(
        "apply",
        {
            "web1": HostResult("changed", 11, 6, 42.5, None, ["Install Docker packages"]),
            "web2": HostResult(
                "failed", 4, 1, 3.2, "web2: cannot connect over SSH (timed out); check it."
            ),
            "web3": HostResult("unchanged", 11, 0, 1.25),
        },
        duration_s=43.0,
    )


def test_apply_junit_has_a_failure_per_failed_host(tmp_path):
    path = tmp_path / "apply.xml"
    documents.write_junit(path, documents.apply_junit(fleet_result()))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    [suite] = root
    assert suite.get("name") == "provision.apply"
    assert (suite.get("tests"), suite.get("failures"), suite.get("time")) == ("3", "1", "43.000")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["web1", "web2", "web3"]
    assert cases["web2"].find("failure").get("message") == (
        "web2: cannot connect over SSH (timed out); check it."
    )
    assert cases["web1"].find("failure") is None
    assert cases["web1"].find("system-out").text == "changed: 6/11 operations changed"


def verify_result() -> VerifyResult:
    return VerifyResult(
        {
            "lab1": HostChecks(
                [
                    Check("test_packages_installed", True),
                    Check("test_service[docker]", False, "AssertionError: docker is inactive"),
                ],
                duration_s=2.0,
            ),
            "lab2": HostChecks(error="lab2: the verification could not run: timed out"),
            "lab3": HostChecks([Check("test_holds", True)], duration_s=1.0),
        },
        duration_s=2.5,
    )


def test_verify_junit_has_a_suite_per_host(tmp_path):
    path = tmp_path / "verify.xml"
    documents.write_junit(path, documents.verify_junit(verify_result()))
    suites = {s.get("name"): s for s in ET.parse(path).getroot().iter("testsuite")}
    assert list(suites) == [
        "provision.verify.lab1",
        "provision.verify.lab2",
        "provision.verify.lab3",
    ]
    lab1 = suites["provision.verify.lab1"]
    assert (lab1.get("tests"), lab1.get("failures")) == ("2", "1")
    failing = [c for c in lab1.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["test_service[docker]"]
    assert failing[0].find("failure").get("message") == "AssertionError: docker is inactive"
    lab2 = suites["provision.verify.lab2"]
    [connection] = lab2.iter("testcase")
    assert connection.get("name") == "connection"
    assert connection.find("error").get("message").endswith("could not run: timed out")
    assert suites["provision.verify.lab3"].get("failures") == "0"


def test_json_reports(tmp_path):
    path = tmp_path / "report.json"
    documents.write_json(path, fleet_result().as_dict())
    data = json.loads(path.read_text())
    assert data["summary"] == {"hosts": 3, "changed": 1, "unchanged": 1, "failed": 1}
    assert data["hosts"]["web3"]["duration_s"] == 1.25
    assert "current" not in data["hosts"]["web1"]
    checks = verify_result().as_dict()
    assert checks["summary"] == {"hosts": 3, "passed": 1, "failed": 2}
    assert checks["hosts"]["lab1"]["failures"] == [
        {"check": "test_service[docker]", "message": "AssertionError: docker is inactive"}
    ]
    assert not verify_result().ok and not fleet_result().ok


def render(table) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(table)
    return console.export_text()


def test_tables_show_every_host_and_the_totals():
    text = render(report.apply_table(fleet_result()))
    assert "web1" in text and "6/11" in text and "cannot connect over SSH" in text
    assert "3 hosts: 1 changed, 1 unchanged, 1 failed in 43.0 s" in text
    text = render(report.verify_table(verify_result()))
    assert "AssertionError: docker is inactive" in text
    assert "lab2: the verification could not run: timed out" in text
    assert "3 hosts: 1 passed, 2 failed in 2.5 s" in text


def test_tables_print_brackets_in_checks_and_errors_literally():
    text = render(report.verify_table(verify_result()))
    assert "test_service[docker]: AssertionError" in text


def test_an_error_that_looks_like_markup_does_not_crash_the_table():
    error = "web1: Install Docker packages failed: E: cannot open [/var/lib/dpkg/lock]"
    result = FleetResult("apply", {"web1": HostResult("failed", 1, 0, 0.5, error)})
    assert error in render(report.apply_table(result))


class _Transport:
    def __init__(self, sock, active=True):
        self.sock, self.active = sock, active

    def is_active(self):
        return self.active


def _ssh_host(sock, active=True):
    from types import SimpleNamespace

    transport = _Transport(sock, active)
    client = SimpleNamespace(get_transport=lambda: transport)
    return SimpleNamespace(name="web1", connector=SimpleNamespace(client=client))


def test_ssh_sockets_get_nodelay_and_keepalive():
    import socket

    from provision.orchestrate import run as runner

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        runner._tune_socket(_ssh_host(sock))
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle, interval, count = runner.KEEPALIVE
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == idle
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == interval
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == count
        assert idle + interval * count <= 60  # a vanished host fails within a minute


def test_a_proxied_connection_is_left_alone():
    """Through a jump host the transport's ``sock`` is a channel: no socket option is set."""
    from provision.orchestrate import run as runner

    class Channel:
        options: list = []

        def setsockopt(self, *args):
            self.options.append(args)

    channel = Channel()
    runner._tune_socket(_ssh_host(channel))
    assert runner._socket(_ssh_host(channel)) is None
    assert channel.options == []


def test_a_lost_connection_is_named_as_such():
    from provision.orchestrate import run as runner

    host = _ssh_host(None, active=False)
    message = runner._command_error(None, host, "op", "Install Docker packages")
    assert message.startswith("web1: the SSH connection was lost during Install Docker packages")
    assert "Rerun once it is back" in message


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_reports_stay_valid_with_any_characters_in_messages(tmp_path_factory, message):
    result = fleet_result()
    result.hosts["web2"].error = message
    path = tmp_path_factory.mktemp("junit") / "apply.xml"
    documents.write_junit(path, documents.apply_junit(result))
    failure = ET.parse(path).getroot().find(".//testcase[@name='web2']/failure")
    escaped = documents.NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", message)
    assert failure.get("message").replace("\r", "\n") == (escaped or "failed").replace("\r", "\n")
    json_path = path.with_suffix(".json")
    documents.write_json(json_path, result.as_dict())
    assert json.loads(json_path.read_text())["hosts"]["web2"]["error"] == message


def test_a_control_character_in_a_message_is_written_as_an_escape(tmp_path):
    result = fleet_result()
    result.hosts["web2"].error = "web2: apt said \x1b[31mE: broken\x1b[0m\x00."
    path = tmp_path / "apply.xml"
    documents.write_junit(path, documents.apply_junit(result))
    failure = ET.parse(path).getroot().find(".//testcase[@name='web2']/failure")
    assert failure.get("message") == "web2: apt said \\x1b[31mE: broken\\x1b[0m\\x00."


def test_a_profiles_problems_and_dockers_are_reported_together(tmp_path):
    from provision.profiles.ci_runner.settings import runner_settings

    text = 'hosts = [("web1", {"docker_channel": "nightly", "ci_runner_user": "root"})]\n'
    fleet = load(inventory_file(tmp_path, text))
    with pytest.raises(UsageError) as raised:
        fleet.settings((from_host_data, runner_settings))
    assert "docker_channel" in str(raised.value) and "ci_runner_user" in str(raised.value)
