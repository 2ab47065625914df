"""The install and uninstall deploys end to end through the fleet runner, on pyinfra's ``@fake``
connector: facts answered from a described host, every executed command recorded."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from pyinfra.api import Inventory

from provision.docker.daemon import daemon_config, daemon_json
from provision.docker.deploy import (
    DAEMON_JSON,
    KEYRING,
    PROXY_DROPIN,
    SOURCES,
    install_docker,
    sources_text,
    uninstall_docker,
)
from provision.docker.settings import DEFAULT_PACKAGES, DockerSettings
from provision.docker.validation import from_host_data
from provision.orchestrate.inventory import Fleet
from provision.orchestrate.run import run_deploy

from .fakes import (
    BOOKWORM,
    DOCKER_KEY,
    DOCKER_VERSION,
    PACKAGE_VERSIONS,
    Commands,
    FakeMachine,
    converged_machine,
    fake_responses,
    fresh_machine,
    is_fact_command,
    synthetic_key,
    written,
)
from .test_distro import FEDORA_40, UBUNTU_2404

KEY_URL = "https://download.docker.com/linux/debian/gpg"

# sources_text -------------------------------------------------------------------------------


def test_sources_for_ubuntu_noble_arm64():
    assert sources_text(DockerSettings(), "ubuntu", "noble", "arm64") == (
        "Types: deb\n"
        "URIs: https://download.docker.com/linux/ubuntu\n"
        "Suites: noble\n"
        "Components: stable\n"
        "Architectures: arm64\n"
        "Signed-By: /etc/apt/keyrings/docker.asc\n"
    )


def test_sources_for_debian_trixie_test_channel_from_a_mirror():
    settings = from_host_data(
        {"docker_channel": "test", "docker_repo_url": "https://mirror.example.net/docker/linux/"}
    )
    assert sources_text(settings, "debian", "trixie", "amd64") == (
        "Types: deb\n"
        "URIs: https://mirror.example.net/docker/linux/debian\n"
        "Suites: trixie\n"
        "Components: test\n"
        "Architectures: amd64\n"
        "Signed-By: /etc/apt/keyrings/docker.asc\n"
    )


# running the deploys ------------------------------------------------------------------------


def run(
    machines: dict[str, tuple[FakeMachine, dict]],
    deploy=install_docker,
    dry=False,
    facts=False,
    **options,
):
    """Run ``deploy`` on fake hosts ``{name: (machine, host data)}``; the result and the
    commands each host executed (without the fact commands unless ``facts``). ``options``
    go to ``run_deploy``."""
    hosts = []
    for name, (machine, data) in machines.items():
        settings = from_host_data(data)
        hosts.append(
            (
                f"@fake/{name}",
                {
                    **data,
                    "fake_responses": fake_responses(machine, settings),
                    "fake_delay": 0,
                    "fake_delay_jitter": 0,
                },
            )
        )
    inventory = Inventory((hosts, {}))
    fleet = Fleet("test.py", inventory, list(inventory))
    result = run_deploy(fleet, deploy, "apply", dry=dry, **options)
    commands = {
        host.name.removeprefix("@fake/"): Commands(
            [c for c in host.connector.executed_commands if facts or not is_fact_command(c)],
            getattr(host.connector, "stdin_of", {}),
        )
        for host in inventory
    }
    return result, commands


def run_one(machine: FakeMachine, deploy=install_docker, dry=False, facts=False, **data):
    result, commands = run({"web1": (machine, data)}, deploy, dry, facts)
    return result.hosts["@fake/web1"], commands["web1"]


def index(commands: list[str], pattern: str) -> int:
    found = [i for i, command in enumerate(commands) if re.search(pattern, command)]
    assert found, f"no command matches {pattern!r}: {commands}"
    return found[0]


def after_update(commands: list[str]) -> list[str]:
    """The commands after the first, which must be apt-get update checked for Docker's
    repository and without the cleanup of a new one (a run that installs reads apt's lists
    anew: they may lack the repository, or predate the wanted version)."""
    assert re.match(r"out=\$\(DEBIAN_FRONTEND=noninteractive apt-get .* update 2>&1\)", commands[0])
    assert "download.docker.com" in commands[0] and "rm -f" not in commands[0]
    return commands[1:]


def written_to(commands: Commands, path: str) -> bytes:
    return written(commands, path)


def test_fresh_host_is_installed_in_the_guides_order():
    result, commands = run_one(fresh_machine(urls={KEY_URL: DOCKER_KEY}))
    assert result.status == "changed" and result.error is None
    order = [
        index(commands, r"apt-get .* update$"),
        index(commands, r"apt-get .* install --no-install-recommends ca-certificates curl$"),
        index(commands, r"mv -f \S+ /etc/apt/keyrings/docker.asc$"),
        index(commands, r"mv -f \S+ /etc/apt/sources.list.d/docker.sources$"),
        index(commands, r"apt-get .* update 2>&1\); .* \|\| \{ status=\$\?; rm -f "),
        index(commands, r"apt-get .* install .*" + " ".join(map(re.escape, DEFAULT_PACKAGES))),
        index(commands, r"^groupadd --system docker$"),
    ]
    assert order == sorted(order)
    assert (
        written_to(commands, SOURCES)
        == sources_text(DockerSettings(), "debian", "bookworm", "amd64").encode()
    )
    assert "DPkg::Lock::Timeout=300" in commands[order[5]]
    assert index(commands, r"mv -f \S+ /etc/docker/daemon.json$") > order[5]  # after the install


def test_the_key_is_fetched_by_apts_own_downloader_and_never_by_curl():
    _, commands = run_one(fresh_machine(urls={KEY_URL: DOCKER_KEY}), facts=True)
    fetches = [c for c in commands if f" download-file {KEY_URL} " in c]
    assert len(fetches) == 2 and all("/usr/lib/apt/apt-helper " in c for c in fetches)
    assert index(commands, "provision-preflight-update") > commands.index(fetches[0])
    assert not any(re.search(r"(^|[;&|(]\s*)curl\s+-", c) for c in commands)


def test_converged_host_changes_nothing_and_runs_no_apt_get():
    result, commands = run_one(converged_machine())
    assert result.status == "unchanged"
    assert result.changed_operations == 0 and result.operations == 24
    assert commands == []


def test_converged_host_is_read_in_one_command():
    """Every fact comes from the snapshot: one command, and no fact read one by one."""
    settings = from_host_data({"docker_users": ["alice"], "docker_version": "26.1.5"})
    machine = converged_machine(settings)
    result, commands = run_one(machine, facts=True, docker_users=["alice"], docker_version="26.1.5")
    assert result.status == "unchanged"
    assert len(commands) == 1 and "=====provision-fact' 0 " in commands[0]


def test_a_changed_host_reads_facts_again_after_the_first_change():
    machine = converged_machine()
    machine.files[SOURCES] = ("644", "root:root", b"Types: deb\n")
    _, commands = run_one(machine, facts=True)
    snapshot, *rest = commands
    assert "=====provision-fact' 0 " in snapshot
    write = index(rest, rf"mv -f \S+ {re.escape(SOURCES)}$")
    assert write < index(rest, r"^dpkg-query -W ")  # the packages are read again afterwards


def test_converged_host_with_every_option_changes_nothing():
    data = {
        "docker_users": ["alice"],
        "docker_daemon_options": {"log-driver": "local"},
        "docker_version": "26.1.5",
        "docker_hold": True,
    }
    settings = from_host_data(data)
    machine = converged_machine(settings)
    result, commands = run_one(machine, **data)
    assert (result.status, commands) == ("unchanged", [])


def test_daemon_json_change_restarts_docker():
    data = {"docker_daemon_options": {"log-driver": "local", "live-restore": True}}
    result, commands = run_one(converged_machine(), **data)
    assert result.status == "changed"
    expected = daemon_config(from_host_data(data), DOCKER_VERSION)
    assert expected["live-restore"] is True and expected["log-driver"] == "local"
    assert written_to(commands, DAEMON_JSON) == daemon_json(expected).encode()
    assert commands[-1] == "systemctl reset-failed docker; systemctl restart docker"
    assert index(commands, "daemon.json") < len(commands) - 1


def test_without_options_daemon_json_rotates_container_logs():
    result, commands = run_one(converged_machine(), docker_daemon_options={})
    assert (result.status, commands) == ("unchanged", [])
    fresh, commands = run_one(fresh_machine(urls={KEY_URL: DOCKER_KEY}))
    assert json.loads(written_to(commands, DAEMON_JSON)) == {
        "log-driver": "json-file",
        "log-opts": {"max-file": "3", "max-size": "10m"},
    }


def test_daemon_json_restart_respects_docker_service_enabled_false():
    machine = converged_machine()
    machine.services["docker"] = ("active", "disabled")
    machine.services["containerd"] = ("active", "disabled")
    _, commands = run_one(
        machine, docker_service_enabled=False, docker_daemon_options={"debug": True}
    )
    assert "systemctl enable docker" not in commands
    assert commands[-1] == "systemctl reset-failed docker; systemctl restart docker"


def test_stopped_and_disabled_service_state():
    result, commands = run_one(
        converged_machine(), docker_service_state="stopped", docker_service_enabled=False
    )
    # docker.socket first (it would start docker again), containerd last
    assert commands == [
        "systemctl disable docker.socket",
        "systemctl stop docker.socket",
        "systemctl disable docker",
        "systemctl stop docker",
        "systemctl disable containerd",
        "systemctl stop containerd",
    ]


def test_wrong_key_fails_the_host_before_anything_is_written():
    machine = fresh_machine(urls={KEY_URL: synthetic_key(b"x")})
    result, commands = run_one(machine)
    assert result.status == "failed"
    assert result.error.startswith(f"@fake/web1: {KEY_URL} returned a key with fingerprint ")
    assert "fingerprint 9DC858229FC7DD38854AE2D88D81803C0EBFCD88; nothing was written" in (
        result.error
    )
    assert commands == []  # the preflight checks the key before the first change


def test_unsupported_host_fails_alone_and_others_go_on():
    fedora = FakeMachine(os_release=FEDORA_40)
    result, commands = run({"old": (fedora, {}), "new": (converged_machine(), {})})
    old, new = result.hosts["@fake/old"], result.hosts["@fake/new"]
    assert old.status == "failed"
    assert old.error.startswith("@fake/old: Fedora Linux 40 (Server Edition)")
    assert "docker_distro and docker_codename" in old.error
    assert commands["old"] == []
    assert new.status == "unchanged"
    assert not result.ok and result.summary()["failed"] == 1


def test_invalid_settings_fail_the_host_naming_every_problem():
    inventory = Inventory(
        (
            [
                (
                    "@fake/web9",
                    {
                        "docker_channel": "nightly",
                        "docker_users": ["bad name"],
                        "fake_responses": fake_responses(converged_machine()),
                        "fake_delay": 0,
                    },
                )
            ],
            {},
        )
    )
    result = run_deploy(Fleet("t.py", inventory, list(inventory)), install_docker, "apply")
    host = result.hosts["@fake/web9"]
    assert host.status == "failed"
    assert "docker_channel must be one of stable, test" in host.error
    assert "docker_users has invalid user names: 'bad name'" in host.error


def test_ubuntu_host_gets_the_ubuntu_repository():
    machine = converged_machine()
    machine.os_release = UBUNTU_2404
    machine.arch = "arm64"
    machine.urls = {"https://download.docker.com/linux/ubuntu/gpg": DOCKER_KEY}
    result, commands = run_one(machine)
    assert (
        written_to(commands, SOURCES)
        == sources_text(DockerSettings(), "ubuntu", "noble", "arm64").encode()
    )
    assert index(commands, r"apt-get .* update 2>&1") > index(commands, "docker.sources$")


def test_new_pin_installs_the_resolved_version():
    machine = converged_machine()
    machine.packages["docker-ce"] = ("ii", "5:27.3.1-1~debian.12~bookworm")
    machine.packages["docker-ce-cli"] = ("ii", "5:27.3.1-1~debian.12~bookworm")
    result, commands = run_one(machine, docker_version="26.1.5", docker_hold=True)
    install, hold, restart = after_update(commands)
    assert shlex.split(install)[-3:] == [
        "--allow-change-held-packages",
        f"docker-ce={DOCKER_VERSION}",
        f"docker-ce-cli={DOCKER_VERSION}",
    ]
    assert hold == "apt-mark hold docker-ce docker-ce-cli"
    assert restart == "systemctl reset-failed docker; systemctl restart docker"


@pytest.mark.parametrize("dry", [False, True], ids=["apply", "dry-run"])
def test_a_host_with_the_repository_but_without_docker_reads_apts_lists_first(dry):
    """Key and sources in place, Docker's packages missing (a run stopped between writing the
    sources and apt-get update, or apt's lists removed since): the install is not left to
    lists that may lack the repository."""
    machine = converged_machine()
    for name in ("docker-ce", "docker-ce-cli"):
        del machine.packages[name]
    result, commands = run_one(machine, dry=dry)
    assert result.status == "changed", result.error
    update = next(c for c in result.changes if c["operation"] == "Update apt lists")
    assert update["changes"] == [
        "apt-get update (this run installs from the repository: apt's lists may lack it)"
    ]
    if not dry:
        install = after_update(commands)[0]
        assert shlex.split(install)[-2:] == ["docker-ce", "docker-ce-cli"]


def test_pin_the_repository_lacks_stops_a_fresh_host_before_any_change():
    offered = {name: [version] for name, version in PACKAGE_VERSIONS.items()}
    machine = fresh_machine(urls={KEY_URL: DOCKER_KEY}, index=offered)
    result, commands = run_one(machine, docker_version="25.0.9")
    assert commands == []
    assert result.status == "failed"
    assert result.error == (
        "@fake/web1: Docker's repository https://download.docker.com/linux/debian bookworm for "
        f"amd64 lacks docker-ce 25.0.9 (it has {DOCKER_VERSION}), docker-ce-cli 25.0.9 (it has "
        f"{DOCKER_VERSION}); set docker_codename to a suite that has them, or the version "
        "settings to versions it has; nothing was changed."
    )


def test_partial_pin_installs_the_newest_of_its_release():
    versions = ["5:26.1.3-1~debian.12~bookworm", DOCKER_VERSION, "5:27.5.1-1~debian.12~bookworm"]
    offered = {name: [version] for name, version in PACKAGE_VERSIONS.items()}
    offered |= {"docker-ce": versions, "docker-ce-cli": versions}
    machine = fresh_machine(urls={KEY_URL: DOCKER_KEY}, index=offered, candidates=offered)
    result, commands = run_one(machine, docker_version="26.1", facts=True)
    assert result.error is None
    preflight = index(commands, "=====provision-preflight-update")
    assert "madison docker-ce docker-ce-cli containerd.io" in commands[preflight]
    assert preflight < index(commands, r"apt-get .* update$")  # before the first change
    install = commands[index(commands, r"install .*docker-ce=")]
    assert f"docker-ce={DOCKER_VERSION}" in install and f"docker-ce-cli={DOCKER_VERSION}" in install


def test_a_suite_without_docker_ce_is_refused_before_any_change():
    offered = {"containerd.io": ["1.7.19-1"]}  # as Docker's repository for a new release
    trixie = BOOKWORM.replace("bookworm", "trixie").replace('"12', '"13')
    machine = fresh_machine(os_release=trixie, urls={KEY_URL: DOCKER_KEY}, index=offered)
    machine.packages = {"docker.io": ("ii", "26.1.5+dfsg1-9+b9")}
    result, commands = run_one(machine)
    assert commands == [] and result.status == "failed"
    assert result.error.startswith(
        "@fake/web1: Docker's repository https://download.docker.com/linux/debian trixie for "
        "amd64 lacks docker-ce, docker-ce-cli, docker-buildx-plugin, docker-compose-plugin; "
        "set docker_codename to a suite"
    )


def test_an_unknown_release_is_decided_by_the_repository():
    forky = BOOKWORM.replace("bookworm", "forky").replace('"12', '"14')
    refused = fresh_machine(os_release=forky, urls={KEY_URL: DOCKER_KEY}, index={})
    result, commands = run_one(refused)
    assert commands == [] and result.status == "failed"
    assert "(forky is not among the debian releases Docker is known to publish: " in result.error
    assert "docker_codename" in result.error
    offered = fresh_machine(os_release=forky, urls={KEY_URL: DOCKER_KEY})
    result, commands = run_one(offered)
    assert result.status == "changed" and result.error is None
    assert b"Suites: forky" in written_to(commands, SOURCES)


def test_a_repository_without_the_hosts_suite_is_one_sentence_with_the_way_out():
    """Docker's repository has no forky at all (apt finds no Release file)."""
    forky = BOOKWORM.replace("bookworm", "forky").replace('"12', '"14')
    machine = fresh_machine(os_release=forky, urls={KEY_URL: DOCKER_KEY})
    repository = "https://download.docker.com/linux/debian"
    machine.update = (
        [
            f"Err:1 {repository} forky InRelease",
            "  404  Not Found [IP: 192.0.2.1 443]",
            f"E: The repository '{repository} forky Release' does not have a Release file.",
        ],
        100,
    )
    result, commands = run_one(machine)
    assert commands == [] and result.status == "failed"
    assert result.error == (
        f"@fake/web1: Docker's repository {repository} has no suite forky for amd64: apt finds "
        "no Release file (forky is not among the debian releases Docker is known to publish: "
        "bookworm, bullseye, trixie); set docker_codename to a suite it has, such as trixie, or "
        "docker_repo_url to a repository that has forky; nothing was changed."
    )


def test_apt_errors_about_the_repository_fail_the_host_in_apts_words():
    words = (
        "E: The repository 'https://download.docker.com/linux/debian bookworm Release' is not "
        "signed."
    )
    machine = fresh_machine(urls={KEY_URL: DOCKER_KEY})
    machine.update = (["Reading package lists...", words, "W: other.example.org: fine"], 100)
    result, commands = run_one(machine)
    assert commands == [] and result.status == "failed"
    assert result.error.startswith(
        "@fake/web1: apt cannot use Docker's repository https://download.docker.com/linux/debian "
        f"bookworm for amd64: {words} (docker_codename"
    )
    assert "other.example.org" not in result.error


def test_a_converged_host_skips_the_preflight():
    _, commands = run_one(converged_machine(), facts=True)
    assert not any("provision-preflight" in c or "apt-helper" in c for c in commands)


def test_installed_pin_reads_no_index():
    machine = converged_machine()
    machine.packages["docker-ce"] = ("ii", DOCKER_VERSION)
    machine.packages["docker-ce-cli"] = ("ii", DOCKER_VERSION)
    result, commands = run_one(machine, docker_version="26.1.5", facts=True)
    assert result.error is None
    assert not any("apt-helper" in command for command in commands)


def test_dry_run_on_a_fresh_host_executes_nothing():
    result, commands = run_one(fresh_machine(urls={KEY_URL: DOCKER_KEY}), dry=True)
    assert commands == []
    assert result.status == "changed"
    assert any(name.endswith("Install Docker packages") for name in result.changed)


def test_dry_run_on_a_converged_host_reports_no_change():
    data = {"docker_daemon_options": {"log-driver": "local"}}
    machine = converged_machine(from_host_data(data))
    result, commands = run_one(machine, dry=True, **data)
    assert commands == []
    assert result.status == "unchanged", result.changed


def test_dry_run_on_a_changed_daemon_json_reports_the_restart():
    result, commands = run_one(converged_machine(), dry=True, docker_daemon_options={"debug": True})
    assert commands == []
    assert [name.rsplit(" | ")[-1] for name in result.changed] == [
        "Configure the Docker daemon",
        "docker service",
    ]


def test_a_stopped_docker_with_a_new_configuration_is_started_once():
    machine = converged_machine()
    machine.services["docker"] = ("inactive", "enabled")
    result, commands = run_one(machine, docker_daemon_options={"debug": True})
    assert result.status == "changed", result.error
    docker = [c for c in commands if re.search(r"systemctl \w+ docker$", c)]
    assert docker == ["systemctl reset-failed docker; systemctl start docker"]


def test_latest_upgrades_on_a_converged_host():
    machine = converged_machine()
    machine.policy = {"docker-compose-plugin": "2.30.3-1~debian.12~bookworm"}
    result, commands = run_one(machine, docker_packages_state="latest")
    assert result.status == "changed"
    [command] = after_update(commands)
    assert command.endswith("--allow-change-held-packages docker-compose-plugin")


# uninstall ----------------------------------------------------------------------------------


def test_uninstall_removes_packages_sources_and_key_but_keeps_data():
    machine = converged_machine()
    machine.paths = {"/var/lib/docker", "/var/lib/containerd"}
    result, commands = run_one(machine, deploy=uninstall_docker)
    assert result.status == "changed"
    assert commands[0].endswith("remove " + " ".join(DEFAULT_PACKAGES))  # a purge may nuke data
    assert commands[1:] == [f"rm -f {SOURCES}", f"rm -f {KEYRING}"]


def test_uninstall_removes_the_proxy_dropin_and_reloads_systemd():
    machine = converged_machine()
    machine.files[PROXY_DROPIN] = ("644", "root:root", b"[Service]\n")
    _, commands = run_one(machine, deploy=uninstall_docker)
    assert commands[-2:] == [f"rm -f {PROXY_DROPIN}", "systemctl daemon-reload"]


def test_uninstall_with_purge_data_removes_the_data_directories():
    machine = converged_machine()
    machine.paths = {"/var/lib/docker", "/var/lib/containerd"}
    _, commands = run_one(machine, deploy=uninstall_docker, docker_purge_data=True)
    assert commands[0].endswith("purge " + " ".join(DEFAULT_PACKAGES))
    assert [c.split(" 2>")[0] for c in commands[-2:]] == [
        "rm -rf /var/lib/docker",
        "rm -rf /var/lib/containerd",
    ]


def test_uninstall_on_a_clean_host_changes_nothing():
    result, commands = run_one(fresh_machine(), deploy=uninstall_docker, docker_purge_data=True)
    assert (result.status, commands) == ("unchanged", [])


def test_a_fleet_can_be_applied_twice():
    data = {"fake_responses": fake_responses(converged_machine()), "fake_delay": 0}
    inventory = Inventory(([("@fake/web1", data)], {}))
    fleet = Fleet("test.py", inventory, list(inventory))
    assert run_deploy(fleet, install_docker, "apply").ok
    assert run_deploy(fleet, install_docker, "apply").ok


FOREIGN = {
    "bip": "172.26.0.1/16",
    "dns": ["10.0.0.2"],
    "default-address-pools": [{"base": "172.27.0.0/16", "size": 24}],
    "log-driver": "journald",
}


def test_a_foreign_daemon_json_is_backed_up_and_its_unmanaged_keys_kept():
    machine = converged_machine()
    machine.files[DAEMON_JSON] = ("644", "root:root", json.dumps(FOREIGN).encode())
    result, commands = run_one(machine)
    backup = commands[index(commands, r"^cp -p ")]
    assert re.fullmatch(
        rf"cp -p {DAEMON_JSON} {DAEMON_JSON}\.provision-backup-\d{{8}}T\d{{6}}Z", backup
    )
    assert commands.index(backup) < index(commands, rf"mv -f \S+ {DAEMON_JSON}$")
    written = json.loads(written_to(commands, DAEMON_JSON))
    own = daemon_config(DockerSettings(), DOCKER_VERSION)
    assert written == {**{k: v for k, v in FOREIGN.items() if k != "log-driver"}, **own}
    assert commands[-1] == "systemctl reset-failed docker; systemctl restart docker"


def test_unmanaged_keys_go_when_the_setting_says_so_and_the_file_is_still_backed_up():
    machine = converged_machine()
    machine.files[DAEMON_JSON] = ("644", "root:root", json.dumps(FOREIGN).encode())
    _, commands = run_one(machine, docker_daemon_json_keep_unmanaged=False)
    assert index(commands, r"^cp -p ") < index(commands, rf"mv -f \S+ {DAEMON_JSON}$")
    assert json.loads(written_to(commands, DAEMON_JSON)) == daemon_config(
        DockerSettings(), DOCKER_VERSION
    )


def test_a_file_taken_over_before_keeps_the_backups_keys_and_is_not_backed_up_again():
    own = daemon_config(DockerSettings(), DOCKER_VERSION)
    machine = converged_machine()
    merged = daemon_json({"bip": FOREIGN["bip"], **own}).encode()
    machine.files[DAEMON_JSON] = ("644", "root:root", merged)
    machine.files[f"{DAEMON_JSON}.provision-backup-20260101T000000Z"] = (
        "644",
        "root:root",
        json.dumps({"bip": FOREIGN["bip"]}).encode(),
    )
    result, commands = run_one(machine)
    assert (result.status, commands) == ("unchanged", [])
    # a key docker_daemon_options wrote once is not mistaken for the user's
    machine.files[DAEMON_JSON] = (
        "644",
        "root:root",
        daemon_json({"bip": FOREIGN["bip"], "debug": True, **own}).encode(),
    )
    _, commands = run_one(machine)
    assert not any(c.startswith("cp -p ") for c in commands)
    assert json.loads(written_to(commands, DAEMON_JSON)) == {"bip": FOREIGN["bip"], **own}


def test_a_daemon_json_this_project_wrote_is_not_backed_up():
    machine = converged_machine()
    _, commands = run_one(machine, docker_daemon_options={"debug": True})
    assert not any(c.startswith("cp -p ") for c in commands)
    assert json.loads(written_to(commands, DAEMON_JSON))["debug"] is True


def test_a_partial_pin_met_stays_and_latest_moves_to_the_newest_of_the_release():
    older = "5:26.1.3-1~debian.12~bookworm"
    machine = converged_machine()
    machine.packages["docker-ce"] = ("ii", older)
    machine.packages["docker-ce-cli"] = ("ii", older)
    newer = "5:27.0.3-1~debian.12~bookworm"
    machine.candidates = {name: [newer, DOCKER_VERSION, older] for name in machine.candidates}
    result, commands = run_one(machine, docker_version="26.1")
    assert (result.status, commands) == ("unchanged", [])
    result, commands = run_one(machine, docker_version="26.1", docker_packages_state="latest")
    assert shlex.split(after_update(commands)[0])[-2:] == [
        f"docker-ce={DOCKER_VERSION}",
        f"docker-ce-cli={DOCKER_VERSION}",
    ]


def test_conflicting_packages_leave_in_the_installs_own_apt_transaction():
    machine = fresh_machine(urls={KEY_URL: DOCKER_KEY})
    machine.packages = {
        "docker.io": ("ii", "26.1.5+dfsg1-9+b9"),
        "containerd": ("ii", "1.7.24~ds1-6+b4"),
        "runc": ("ii", "1.1.15+ds1-2+b4"),
        "podman-docker": ("rc", "4.3.1+ds1-8"),  # only its configuration is left: nothing to do
    }
    result, commands = run_one(machine)
    assert result.status == "changed", result.error
    assert not any(re.search(r"apt-get .* (remove|purge) ", c) for c in commands)
    install = shlex.split(commands[index(commands, r"apt-get .* install .*docker-ce")])
    assert install[-8:] == [*DEFAULT_PACKAGES, "docker.io-", "containerd-", "runc-"]
    changes = {c["operation"]: c for c in result.changes}
    removed = {
        p["name"]: (p["from"], p["to"]) for p in changes["Install Docker packages"]["packages"]
    }
    assert removed["docker.io"] == ("26.1.5+dfsg1-9+b9", None)
