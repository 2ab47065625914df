"""The facts' commands, run here with ``sh`` (stand-ins for systemctl/apt-cache), and parsed."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provision.docker.facts import (
    APT_HELPER,
    FAILED,
    MAX_SOURCES_BYTES,
    AptSources,
    CandidateVersions,
    Download,
    FileContent,
    OsTarget,
    Packages,
    PackageState,
    Paths,
    PolicyCandidates,
    RemoteFile,
    ServiceState,
    Users,
    download_input,
)

from .fakes import DOCKER_KEY


def fact(cls, env: dict | None = None, stdin: str | None = None, **kwargs):
    """Run the fact's command with sh and process its stdout the way pyinfra does."""
    instance = cls()
    done = subprocess.run(
        ["sh", "-c", instance.command(**kwargs)],
        **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return instance.process(lines) if lines else instance.default()


def fact_of(command: str, cls, cwd=None):
    """Run ``command`` (a fact's command with its paths moved) and process it like ``fact``."""
    done = subprocess.run(
        ["sh", "-c", command], stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return cls().process(lines) if lines else cls().default()


def needs(*tools: str):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


def stand_in(tmp_path: Path, name: str, script: str) -> dict:
    """A fake ``name`` command first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


# OsTarget -----------------------------------------------------------------------------------


def test_os_target_parses_release_and_architecture():
    output = [
        'PRETTY_NAME="Ubuntu 24.04.1 LTS"',
        "ID=ubuntu",
        "VERSION_CODENAME=noble",
        "---",
        "arm64",
    ]
    release, arch = OsTarget().process(output)
    assert release == {
        "PRETTY_NAME": "Ubuntu 24.04.1 LTS",
        "ID": "ubuntu",
        "VERSION_CODENAME": "noble",
    }
    assert arch == "arm64"


def test_os_target_without_dpkg_has_no_architecture():
    release, arch = OsTarget().process(["ID=alpine", "---"])
    assert release == {"ID": "alpine"} and arch == ""


@needs("dpkg")
@pytest.mark.skipif(not Path("/etc/os-release").exists(), reason="no /etc/os-release")
def test_os_target_on_this_machine():
    release, arch = fact(OsTarget)
    assert release["ID"]
    assert arch == subprocess.check_output(["dpkg", "--print-architecture"], text=True).strip()


# Packages -----------------------------------------------------------------------------------


def test_packages_parses_dpkg_query_lines():
    output = [
        "docker-ce hi  5:26.1.5-1~debian.12~bookworm",
        "docker-ce-cli ii  5:26.1.5-1~debian.12~bookworm",
        "containerd.io iF  1.7.19-1",
        "docker-buildx-plugin un  ",
        "podman-docker pn  ",
    ]
    state = Packages().process(output)
    assert state == {
        None: False,
        "docker-ce": PackageState("5:26.1.5-1~debian.12~bookworm", "hi"),
        "docker-ce-cli": PackageState("5:26.1.5-1~debian.12~bookworm", "ii"),
        "containerd.io": PackageState("1.7.19-1", "iF"),
    }
    assert state["docker-ce"].held and state["docker-ce"].installed
    assert not state["docker-ce"].broken
    assert state["containerd.io"].broken and not state["containerd.io"].installed
    assert not state["docker-ce-cli"].held


def test_packages_reports_an_interrupted_dpkg():
    assert Packages().process(["DPKG-INTERRUPTED"]) == {None: True}
    assert Packages().default() == {None: False}


@needs("dpkg-query")
def test_packages_on_this_machine():
    state = fact(Packages, packages=["dpkg", "bash", "no-such-package-here"])
    assert state["dpkg"].installed and state["dpkg"].status == "ii"
    assert state["bash"].version
    assert "no-such-package-here" not in state


@pytest.mark.parametrize(
    ("status", "installed", "broken", "present", "held"),
    [
        ("ii", True, False, True, False),
        ("hi", True, False, True, True),
        ("iW", True, False, True, False),  # awaiting triggers: configured
        ("it", True, False, True, False),  # triggers pending: configured
        ("iU", False, True, True, False),  # unpacked, not configured
        ("iF", False, True, True, False),  # half-configured
        ("iH", False, True, True, False),  # half-installed
        ("hF", False, True, True, True),
        ("rc", False, False, True, False),  # removed, configuration files left
        ("pn", False, False, False, False),
    ],
)
def test_package_state(status, installed, broken, present, held):
    package = PackageState("1.0", status)
    assert (package.installed, package.broken, package.present, package.held) == (
        installed,
        broken,
        present,
        held,
    )


# FileContent --------------------------------------------------------------------------------


def test_file_content_of_a_file(tmp_path):
    path = tmp_path / "docker.asc"
    path.write_bytes(DOCKER_KEY)
    path.chmod(0o640)
    found = fact(FileContent, path=str(path))
    owner = subprocess.check_output(["stat", "-c", "%U:%G", str(path)], text=True).strip()
    assert found == RemoteFile("640", owner, DOCKER_KEY)


def test_file_content_of_an_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.touch()
    assert fact(FileContent, path=str(path)).content == b""


def test_file_content_of_a_missing_file_or_a_directory_is_none(tmp_path):
    assert fact(FileContent, path=str(tmp_path / "missing")) is None
    assert fact(FileContent, path=str(tmp_path)) is None


def test_file_content_path_with_spaces_and_quotes(tmp_path):
    path = tmp_path / "it's a file"
    path.write_text("x")
    assert fact(FileContent, path=str(path)).content == b"x"


# Download -----------------------------------------------------------------------------------


as_root = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(APT_HELPER), reason="apt-helper, run as root"
)


@as_root
def test_download_returns_the_bytes_through_apts_downloader(tmp_path):
    key = tmp_path / "gpg"
    key.write_bytes(DOCKER_KEY)
    url = key.as_uri()
    assert fact(Download, url=url, stdin=download_input(url, None)) == (DOCKER_KEY, "")


@as_root
def test_download_failure_returns_apts_message(tmp_path):
    url = (tmp_path / "missing").as_uri()
    data, error = fact(Download, url=url, stdin=download_input(url, None))
    assert data is None
    assert "E: Failed to fetch" in error


def test_download_failure_without_a_message_says_apt_helper_failed():
    assert Download().process([FAILED]) == (None, "apt-helper failed")


# Paths / FilesMentioning --------------------------------------------------------------------


def test_paths_lists_files_links_and_non_empty_directories(tmp_path):
    (tmp_path / "docker.list").write_text("deb x")
    (tmp_path / "download_docker_com_a.list").write_text("deb y")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "layer").write_text("")
    patterns = [
        f"{tmp_path}/docker.list",
        f"{tmp_path}/download_docker_com*.list",
        f"{tmp_path}/link",
        f"{tmp_path}/empty",
        f"{tmp_path}/full",
        f"{tmp_path}/absent*",
    ]
    assert sorted(fact(Paths, patterns=patterns)) == sorted(
        [
            f"{tmp_path}/docker.list",
            f"{tmp_path}/download_docker_com_a.list",
            f"{tmp_path}/link",
            f"{tmp_path}/full",
        ]
    )


def test_paths_match_each_pattern_in_its_own_directory_only(tmp_path):
    # one find walks both directories; the outer pattern must not reach into the inner one
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "x.gpg").write_text("k")
    (tmp_path / "y.gpg").write_text("k")
    found = fact(Paths, patterns=[f"{tmp_path}/*.gpg", f"{tmp_path}/inner/none"])
    assert found == [f"{tmp_path}/y.gpg"]
    assert fact(Paths, patterns=[f"{tmp_path}/inner/*.gpg"]) == [f"{tmp_path}/inner/x.gpg"]
    assert Paths().command([]) == "true"


def test_apt_sources_reads_the_files_apt_reads_whole(tmp_path):
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text("deb http://deb.debian.org/debian bookworm main\n")
    (apt / "sources.list.d" / "docker.sources").write_text("Types: deb\n")
    (apt / "sources.list.d" / "old.list").write_bytes(b"deb \xff x y\n")
    (apt / "sources.list.d" / "empty.list").write_text("")
    (apt / "sources.list.d" / "old.list.save").write_text("ignored by apt\n")
    (apt / "sources.list.d" / "bad name.list").write_text("ignored by apt\n")
    (apt / "sources.list.d" / "a-directory.list").mkdir()
    (apt / "sources.list.d" / "big.list").write_bytes(b"#" * (MAX_SOURCES_BYTES + 1))
    os.chmod(apt / "sources.list.d" / "old.list", 0o600)
    command = AptSources().command().replace("/etc/apt", str(apt))
    lines = subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout
    # the real output, read as if it came from /etc/apt
    found = AptSources().process(lines.replace(str(apt), "/etc/apt").splitlines())
    owner = found["/etc/apt/sources.list"].owner
    assert found == {
        "/etc/apt/sources.list": RemoteFile(
            "644", owner, b"deb http://deb.debian.org/debian bookworm main\n"
        ),
        "/etc/apt/sources.list.d/docker.sources": RemoteFile("644", owner, b"Types: deb\n"),
        "/etc/apt/sources.list.d/old.list": RemoteFile("600", owner, b"deb \xff x y\n"),
        "/etc/apt/sources.list.d/empty.list": RemoteFile("644", owner, b""),
    }


def test_apt_sources_skips_what_it_cannot_read():
    good = f"/etc/apt/sources.list 644 root:root {base64.b64encode(b'deb x y z').decode()}"
    assert AptSources().process(
        [
            good,
            "/etc/apt/sources.list.d/x.list 644 root:root not-base64!",
            "/etc/shadow 644 root:root eA==",
            "/etc/apt/sources.list.d/../../shadow.list 644 root:root eA==",
            "/etc/apt/sources.list.d/x.list rw root:root eA==",
            "/etc/apt/sources.list.d/x.list 644 root:root eA== more",
        ]
    ) == {"/etc/apt/sources.list": RemoteFile("644", "root:root", b"deb x y z")}
    assert AptSources().default() == {}


def test_apt_sources_without_sources_list_d_is_empty(tmp_path):
    command = AptSources().command().replace("/etc/apt", str(tmp_path))
    assert fact_of(command, AptSources) == {}


# Users --------------------------------------------------------------------------------------


@needs("getent", "id")
def test_users_on_this_machine():
    members, missing = fact(Users, group="root", users=["root", "no-such-user-x"])
    assert members is not None
    assert missing == ["no-such-user-x"]
    assert fact(Users, group="no-such-group-x", users=[]) == (None, [])


def test_users_parses_group_members():
    members, missing = Users().process(["docker:x:998:alice,bob", "missing:carol"])
    assert members == {"alice", "bob"} and missing == ["carol"]
    assert Users().process(["docker:x:998:"]) == (set(), [])
    assert Users().process(["nogroup"]) == (None, [])


# ServiceState -------------------------------------------------------------------------------

SYSTEMCTL = """\
[ "$1 $2" = "show --property=Id,ActiveState,UnitFileState" ] && [ "$3" = "--" ] || exit 2
shift 3
for unit; do
  case "$unit" in
    docker) printf 'Id=docker.service\\nActiveState=active\\nUnitFileState=enabled\\n\\n' ;;
    containerd) printf 'UnitFileState=\\nActiveState=inactive\\nId=containerd.service\\n\\n' ;;
    *.socket) printf 'Id=%s\\nActiveState=failed\\nUnitFileState=masked\\n\\n' "$unit" ;;
  esac
done
"""


def test_service_state_reads_every_unit_with_one_systemctl_show(tmp_path):
    env = stand_in(tmp_path, "systemctl", SYSTEMCTL)
    states = fact(ServiceState, env=env, units=["docker", "containerd", "docker.socket"])
    assert ServiceState.select(states, ["docker", "containerd", "docker.socket"]) == {
        "docker": ("active", "enabled"),
        "containerd": ("inactive", "unknown"),  # a unit without a unit file state
        "docker.socket": ("failed", "masked"),
    }


def test_service_state_blocks_end_where_a_property_comes_again():
    # no blank line between the blocks, and the properties in another order
    output = ["ActiveState=active", "Id=a.service", "ActiveState=inactive", "Id=b.service"]
    assert ServiceState().process(output) == {
        "a.service": ("active", "unknown"),
        "b.service": ("inactive", "unknown"),
    }


def test_service_state_without_any_answer():
    assert ServiceState.select(ServiceState().default(), ["docker"]) == {
        "docker": ("unknown", "unknown")
    }


# CandidateVersions --------------------------------------------------------------------------

MADISON = """\
echo " docker-ce | 5:27.3.1-1~debian.12~bookworm | https://download.docker.com/linux/debian \
bookworm/stable amd64 Packages"
echo " docker-ce | 5:26.1.5-1~debian.12~bookworm | https://download.docker.com/linux/debian \
bookworm/stable amd64 Packages"
"""


def test_candidate_versions_from_apt_cache_madison(tmp_path):
    env = stand_in(tmp_path, "apt-cache", MADISON)
    assert fact(CandidateVersions, env=env, package="docker-ce") == [
        "5:27.3.1-1~debian.12~bookworm",
        "5:26.1.5-1~debian.12~bookworm",
    ]


def test_candidate_versions_when_apt_cache_knows_nothing(tmp_path):
    env = stand_in(tmp_path, "apt-cache", "echo 'N: Unable to locate package' >&2; exit 100\n")
    assert fact(CandidateVersions, env=env, package="docker-ce") == []


def test_fact_commands_quote_their_arguments(tmp_path):
    marker = tmp_path / "pwned"
    hostile = f"x; touch {marker}"
    for cls, kwargs in [
        (FileContent, {"path": hostile}),
        (Packages, {"packages": [hostile]}),
        (CandidateVersions, {"package": hostile}),
        (Download, {"url": f"file:///nonexistent/{hostile}"}),
    ]:
        subprocess.run(["sh", "-c", cls().command(**kwargs)], capture_output=True)
    assert not marker.exists()


POLICY = """\
cat <<'OUT'
docker-ce:
  Installed: 5:26.1.5-1~debian.12~bookworm
  Candidate: 5:27.3.1-1~debian.12~bookworm
  Version table:
     5:27.3.1-1~debian.12~bookworm 500
        500 https://download.docker.com/linux/debian bookworm/stable amd64 Packages
 *** 5:26.1.5-1~debian.12~bookworm 500
        100 /var/lib/dpkg/status
docker-ce-rootless-extras:
  Installed: (none)
  Candidate: (none)
  Version table:
OUT
"""


def test_policy_candidates_from_apt_cache_policy(tmp_path):
    env = stand_in(tmp_path, "apt-cache", POLICY)
    found = fact(PolicyCandidates, env=env, packages=["docker-ce", "docker-ce-rootless-extras"])
    assert found == {"docker-ce": "5:27.3.1-1~debian.12~bookworm"}
    assert PolicyCandidates().default() == {}
