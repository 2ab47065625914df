"""Change reports: what each operation changes or would change, in words, in dry and real runs."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from provision.cli import cli
from provision.core.changes import Change, diff
from provision.docker.deploy import DAEMON_JSON, KEYRING, SOURCES
from provision.docker.descriptions import PackageChange, settle_packages, spaced
from provision.docker.dpkg import PackageState

from .fakes import DOCKER_KEY, converged_machine, fresh_machine
from .test_cli import fake_inventory

DOCKER_FINGERPRINT = "9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88"


def run(tmp_path, machine, *args, **data):
    """``provision apply`` on one fake host; exit code, output and the JSON report's host."""
    inventory = fake_inventory(tmp_path, machine, **data)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["apply", "-i", inventory, "--report", str(report), *args])
    host = json.loads(report.read_text())["hosts"]["@fake/web1"] if report.exists() else None
    return result.exit_code, result.output, host


def by_operation(host: dict) -> dict[str, dict]:
    return {change["operation"]: change for change in host["changes"]}


def test_dry_run_on_a_fresh_host_shows_the_whole_install_plan(tmp_path):
    machine = fresh_machine(urls=converged_machine().urls)
    code, output, host = run(
        tmp_path, machine, "--dry", docker_users=["alice"], docker_daemon_options={"debug": True}
    )
    assert code == 0, output
    changes = by_operation(host)
    assert list(changes) == host["changed"]  # one entry per operation that would change
    assert [p["name"] for p in changes["Install prerequisites"]["packages"]] == [
        "ca-certificates",
        "curl",
    ]
    docker = changes["Install Docker packages"]["packages"]
    assert {p["name"]: p["action"] for p in docker} == {
        "docker-ce": "install",
        "docker-ce-cli": "install",
        "containerd.io": "install",
        "docker-buildx-plugin": "install",
        "docker-compose-plugin": "install",
    }
    assert changes["Install Docker's signing key"]["changes"] == [
        f"install the key {DOCKER_FINGERPRINT} from "
        f"https://download.docker.com/linux/debian/gpg as {KEYRING}"
    ]
    assert "+Suites: bookworm\n" in changes["Add Docker's apt repository"]["diff"]
    assert '+  "debug": true,\n' in changes["Configure the Docker daemon"]["diff"]
    assert changes["Docker group and users"]["changes"] == [
        "create group docker",
        "add alice to group docker",
    ]
    assert changes["docker service"]["changes"] == ["enable docker at boot", "start docker"]
    # printed under the table, with the diffs (a dry run always shows them)
    table_end = output.index("1 hosts: 1 changed")
    plan = output[table_end:]
    assert "@fake/web1: 10 operations would change" in plan
    assert "install docker-ce: not installed → newest in the repository" in plan
    assert "+Signed-By: /etc/apt/keyrings/docker.asc" in plan
    assert "BEGIN PGP" not in output and "BEGIN PGP" not in json.dumps(host)


def drifted_machine():
    machine = converged_machine()
    machine.files[KEYRING] = ("600", "root:root", DOCKER_KEY)
    sources = machine.files[SOURCES][2].replace(b"bookworm", b"bullseye")
    machine.files[SOURCES] = ("666", "root:root", sources)
    machine.files[DAEMON_JSON] = ("644", "root:root", b'{\n  "debug": false\n}\n')
    machine.services["docker"] = ("inactive", "enabled")
    return machine


def test_dry_run_on_a_drifted_host_shows_diffs_and_modes(tmp_path):
    code, output, host = run(
        tmp_path, drifted_machine(), "--dry", docker_daemon_options={"debug": True}
    )
    assert code == 0, output
    changes = by_operation(host)
    assert changes["Install Docker's signing key"]["changes"] == [f"mode of {KEYRING}: 600 → 644"]
    sources = changes["Add Docker's apt repository"]
    assert sources["changes"] == [f"rewrite {SOURCES}", f"mode of {SOURCES}: 666 → 644"]
    assert "-Suites: bullseye\n+Suites: bookworm\n" in sources["diff"]
    daemon = changes["Configure the Docker daemon"]["diff"]
    assert '-  "debug": false\n+  "debug": true,\n' in daemon
    assert changes["docker service"]["changes"] == ["start docker"]
    assert "Install Docker packages" not in changes  # converged packages are not listed
    assert '+  "debug": true' in output


def test_real_run_shows_diffs_only_with_diff(tmp_path):
    _, plain, host = run(tmp_path, drifted_machine(), docker_daemon_options={"debug": True})
    assert "Add Docker's apt repository" in plain and "+Suites: bookworm" not in plain
    assert "+Suites: bookworm" in by_operation(host)["Add Docker's apt repository"]["diff"]
    _, with_diff, _ = run(tmp_path, drifted_machine(), "--diff")
    assert "-Suites: bullseye" in with_diff and "+Suites: bookworm" in with_diff


def test_restart_names_the_file_that_changed(tmp_path):
    machine = converged_machine()
    machine.files[DAEMON_JSON] = ("644", "root:root", b"{}\n")
    _, _, host = run(tmp_path, machine, "--dry", docker_daemon_options={"debug": True})
    changes = by_operation(host)
    assert changes["docker service"]["changes"] == [
        "restart docker: Configure the Docker daemon changed it"
    ]
    assert list(changes) == ["Configure the Docker daemon", "docker service"]


def test_a_stopped_docker_starts_with_its_new_configuration_once(tmp_path):
    machine = converged_machine()
    machine.files[DAEMON_JSON] = ("644", "root:root", b"{}\n")
    machine.services["docker"] = ("inactive", "enabled")
    _, _, host = run(tmp_path, machine, "--dry", docker_daemon_options={"debug": True})
    assert by_operation(host)["docker service"]["changes"] == ["start docker"]


def test_pinned_and_removed_packages_with_versions(tmp_path):
    machine = converged_machine()
    machine.packages["docker.io"] = ("ii", "20.10.24+dfsg1-1+b3")
    machine.candidates["docker-ce"] = ["5:27.5.1-1~debian.12~bookworm", "5:26.1.5-1~debian.12"]
    machine.candidates["docker-ce-cli"] = machine.candidates["docker-ce"]
    _, _, host = run(tmp_path, machine, "--dry", docker_version="27.5.1", docker_hold=True)
    changes = by_operation(host)
    assert "Remove conflicting packages" not in changes  # removed by the install itself
    lines = changes["Install Docker packages"]["changes"]
    assert lines == [
        "upgrade docker-ce: 5:26.1.5-1~debian.12~bookworm → 27.5.1 (docker_version)",
        "upgrade docker-ce-cli: 5:26.1.5-1~debian.12~bookworm → 27.5.1 (docker_version)",
        "remove docker.io: 20.10.24+dfsg1-1+b3 → removed",
        "hold docker-ce, docker-ce-cli (apt-mark hold)",
    ]


@pytest.mark.parametrize(
    ("before", "after", "wanted", "action"),
    [
        (None, "5:26.1.5-1", "", "install"),
        (None, None, "newest in the repository", "install"),
        ("5:26.1.5-1", None, "", "remove"),
        ("5:26.1.5-1", "5:27.5.1-1", "", "upgrade"),
        ("5:27.5.1-1", "5:26.1.5-1", "", "downgrade"),
        ("5:27.5.1-1~debian.12", None, "26.1.5 (docker_version)", "downgrade"),
        ("5:20.10.24-1", None, "26.1.5 (docker_version)", "upgrade"),
    ],
)
def test_package_actions(before, after, wanted, action):
    assert PackageChange("docker-ce", before, after, wanted).action == action


def test_settle_reads_what_the_run_installed():
    change = Change(
        "Install Docker packages",
        packages=[
            PackageChange("docker-ce", None, None, "newest in the repository"),
            PackageChange("docker-ce-cli", "5:20.10.24-1", None, "26.1.5 (docker_version)"),
            PackageChange("docker.io", "20.10.24-1", None),
            PackageChange("docker-compose-plugin", None, None, "newest in the repository"),
        ],
    )
    settle_packages(
        [change],
        {
            "docker-ce": PackageState("5:26.1.5-1~debian.12~bookworm", "ii"),
            "docker-ce-cli": PackageState("5:26.1.5-1~debian.12~bookworm", "ii"),
            "docker.io": PackageState("20.10.24-1", "rc"),  # configuration files only
        },
    )
    assert change.lines() == [
        "install docker-ce: not installed → 5:26.1.5-1~debian.12~bookworm",
        "upgrade docker-ce-cli: 5:20.10.24-1 → 5:26.1.5-1~debian.12~bookworm",
        "remove docker.io: 20.10.24-1 → removed",
        # not installed after the run (it failed first): what was asked for stays
        "install docker-compose-plugin: not installed → newest in the repository",
    ]


def test_diff_of_a_new_and_a_changed_file():
    assert diff("/etc/x", None, b"a\n") == "--- /dev/null\n+++ /etc/x (wanted)\n@@ -0,0 +1 @@\n+a\n"
    assert diff("/etc/x", b"a\nb", b"a\nc\n").splitlines()[-2:] == ["-b", "+c"]
    assert diff("/etc/x", b"same\n", b"same\n") == ""


def test_fingerprints_are_shown_in_groups_of_four():
    assert spaced("9DC858229FC7DD38854AE2D88D81803C0EBFCD88") == DOCKER_FINGERPRINT


def test_dry_and_real_runs_report_the_same_docker_sources_taken_out(tmp_path):
    line = "deb [trusted=yes] https://download.docker.com:443//linux/debian/ bookworm stable\n"
    debian = "deb http://deb.debian.org/debian bookworm main\n"
    machine = converged_machine()
    machine.files["/etc/apt/sources.list"] = ("644", "root:root", (debian + line).encode())
    reported = []
    for args in (["--dry"], []):
        code, output, host = run(tmp_path, machine, *args)
        assert code == 0, output
        reported.append(by_operation(host)["Remove other sources of Docker's repository"])
    assert (
        reported[0]["changes"]
        == reported[1]["changes"]
        == [
            "comment out the entry of https://download.docker.com/linux/debian in "
            "/etc/apt/sources.list (trusted=yes: apt would accept it unsigned)"
        ]
    )


FOREIGN = (
    b'{"bip": "172.26.0.1/16", "dns": ["10.0.0.2"],\n'
    b' "default-address-pools": [{"base": "172.27.0.0/16", "size": 24}],\n'
    b' "log-driver": "journald"}\n'
)


def test_a_dry_run_says_a_foreign_daemon_json_is_backed_up_and_which_keys_stay(tmp_path):
    machine = converged_machine()
    machine.files[DAEMON_JSON] = ("644", "root:root", FOREIGN)
    code, output, host = run(tmp_path, machine, "--dry")
    assert code == 0, output
    change = by_operation(host)["Configure the Docker daemon"]
    backup, rewrite, kept = change["changes"]
    assert re.fullmatch(
        rf"back up {DAEMON_JSON} to {DAEMON_JSON}\.provision-backup-\d{{8}}T\d{{6}}Z "
        r"\(not written by provision\)",
        backup,
    )
    assert (rewrite, kept) == (
        f"rewrite {DAEMON_JSON}",
        "keep bip, default-address-pools, dns: no setting writes them",
    )
    assert '-"log-driver":"journald"}' in change["diff"].replace(" ", "")
    assert '+  "bip": "172.26.0.1/16",' in change["diff"]


def test_pins_of_their_own_and_partial_pins_under_latest_are_reported(tmp_path):
    older = "5:26.1.3-1~debian.12~bookworm"
    machine = converged_machine()
    machine.packages["docker-ce"] = ("ii", older)
    machine.packages["docker-ce-cli"] = ("ii", older)
    machine.candidates = {n: ["5:26.1.5-1~debian.12~bookworm", older] for n in machine.candidates}
    machine.index = {"containerd.io": ["1.6.33-1"]}
    code, output, host = run(
        tmp_path,
        machine,
        "--dry",
        docker_version="26.1",
        docker_packages_state="latest",
        docker_package_versions={"containerd.io": "1.6"},
    )
    assert code == 0, output
    assert by_operation(host)["Install Docker packages"]["changes"] == [
        f"upgrade docker-ce: {older} → 5:26.1.5-1~debian.12~bookworm",
        f"upgrade docker-ce-cli: {older} → 5:26.1.5-1~debian.12~bookworm",
        "downgrade containerd.io: 1.7.19-1 → 1.6 (docker_package_versions['containerd.io'])",
    ]


def test_a_package_apt_moved_along_with_the_engine_is_reported_after_the_run():
    old, new = "5:26.1.5-1~debian.12~bookworm", "5:28.5.2-1~debian.12~bookworm"
    change = Change(
        "Install Docker packages",
        packages=[PackageChange("docker-ce", old, None, "28.5.2 (docker_version)")],
        along=[PackageChange("containerd.io", "1.7.19-1", None), PackageChange("x", "1", None)],
    )
    assert change.lines() == [f"upgrade docker-ce: {old} → 28.5.2 (docker_version)"]
    installed = {
        "docker-ce": PackageState(new, "ii"),
        "containerd.io": PackageState("2.1.9-1", "ii"),
        "x": PackageState("1", "ii"),
    }
    settle_packages([change], installed)
    assert change.as_dict()["packages"] == [
        {"name": "docker-ce", "action": "upgrade", "from": old, "to": new},
        {"name": "containerd.io", "action": "upgrade", "from": "1.7.19-1", "to": "2.1.9-1"},
    ]
