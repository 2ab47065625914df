"""The verification probe: its sections survive the trip through a shell byte for byte."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess

import pytest

from provision.docker.settings import DockerSettings
from provision.docker.validation import from_host_data
from provision.verify import probe


def run_locally(commands: dict[str, str]) -> dict[str, probe.Section]:
    output = subprocess.run(
        ["sh", "-c", probe.render(commands)], capture_output=True, text=True, check=True
    ).stdout
    return probe.parse(output, list(commands))


def test_output_and_exit_codes_come_back_exactly():
    sections = run_locally(
        {
            "binary": r"printf '\000\377 two\n\n'",
            "failed": "echo 'no such file' >&2; exit 3",
            "empty": "true",
            "quoted": 'echo "it\'s $((1 + 1))"',
        }
    )
    assert sections["binary"] == probe.Section(0, b"\x00\xff two\n\n")
    assert sections["failed"] == probe.Section(3, b"no such file\n")
    assert sections["empty"] == probe.Section(0, b"")
    assert sections["quoted"].text == "it's 2\n"


def test_a_section_cannot_read_stdin_meant_for_the_next():
    sections = run_locally({"reader": "cat", "after": "echo still here"})
    assert sections["reader"].output == b""
    assert sections["after"].text == "still here\n"


def test_parse_ignores_noise_and_broken_lines():
    good = subprocess.run(
        ["sh", "-c", probe.render({"hello": "printf hello"})], capture_output=True, text=True
    ).stdout.strip()
    text = "\n".join(
        [
            "Welcome to the host",
            f"{probe.MARK} ***",  # not base64
            f"{probe.MARK} aGVsbG8=",  # base64, not a tar
            good,
        ]
    )
    assert probe.parse(text, ["hello"]) == {"hello": probe.Section(0, b"hello")}
    assert probe.parse(good, []) == {}  # a section nobody asked for is dropped
    assert probe.parse("no probe here", ["hello"]) == {}


def test_many_sections_keep_their_order_and_codes():
    commands = {f"s{i}": f"echo {i}; exit {i % 4}" for i in range(15)}
    sections = run_locally(commands)
    assert sections == {f"s{i}": probe.Section(i % 4, f"{i}\n".encode()) for i in range(15)}


def test_commands_follow_the_settings():
    settings = from_host_data(
        {
            "docker_users": ["alice", "bob"],
            "docker_verify_image": "registry.example/hello:1",
            "docker_verify_image_url": "http://mirror.example/hello.tar",
        }
    )
    commands = probe.commands(settings)
    assert commands["groups:alice"] == "id -Gn alice" and "groups:bob" in commands
    assert "docker create --rm registry.example/hello:1" in commands["container"]
    assert "curl --globoff -fsSL http://mirror.example/hello.tar -o" in commands["container"]
    assert commands["units"].endswith("-- containerd docker.socket docker")


def test_without_an_image_url_nothing_is_downloaded():
    assert "curl" not in probe.commands(DockerSettings())["container"]


def test_world_writable_lists_only_what_any_user_can_change(monkeypatch, tmp_path):
    (tmp_path / "open").write_text("")
    (tmp_path / "open").chmod(0o666)
    (tmp_path / "closed").write_text("")
    (tmp_path / "closed").chmod(0o644)
    (tmp_path / "link").symlink_to(tmp_path / "closed")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deeper").mkdir(mode=0o777)
    (tmp_path / "sub" / "deeper").chmod(0o777)
    monkeypatch.setattr(probe, "WRITTEN_DIRS", (str(tmp_path / "sub"), str(tmp_path)))
    command = probe.commands(DockerSettings())["world_writable"]
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    found = sorted(done.stdout.split())
    assert found == [str(tmp_path / "open"), str(tmp_path / "sub" / "deeper")]


class FakeHost:
    """A testinfra host that runs commands with a local shell, sudo left out."""

    class Backend:
        def __init__(self, name):
            self.name = name

        def get_hostname(self):
            return self.name

    def __init__(self, name, fail=False, stderr="sudo: a password is required\n"):
        self.backend = self.Backend(name)
        self.fail, self.stderr = fail, stderr

    def run(self, command, *args):
        assert command == "sudo -n sh -c %s"
        if self.fail:
            return subprocess.CompletedProcess(args, 1, "", self.stderr)
        return subprocess.run(["sh", "-c", args[0]], capture_output=True, text=True)


def test_probe_all_reads_every_host_and_names_the_one_that_failed():
    hosts = {"web1": FakeHost("web1"), "web2": FakeHost("web2", fail=True)}
    results = probe.probe_all(hosts, lambda name: {"hello": "echo hi"}, parallel=2)
    assert results["web1"]["hello"] == probe.Section(0, b"hi\n")
    assert isinstance(results["web2"], probe.ProbeError)
    assert str(results["web2"]).startswith("web2: the checks could not read the host")
    assert "sudo: a password is required" in str(results["web2"])
    assert str(results["web2"]).endswith("need passwordless sudo for the inventory's ssh_user.")


@pytest.mark.parametrize(
    "stderr",
    [
        "Host key verification failed.\n",
        "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.",
    ],
)
def test_a_host_key_problem_is_not_blamed_on_sudo(stderr):
    hosts = {"web1": FakeHost("web1", fail=True, stderr=stderr)}
    said = str(probe.probe_all(hosts, lambda name: {"hello": "echo hi"})["web1"])
    assert said.endswith(
        "its SSH host key is unknown or changed: check it and update ssh_known_hosts_file."
    )
    assert "sudo" not in said


@pytest.mark.parametrize("value, expected", [("3", 3), ("", None), ("0", None), ("x", None)])
def test_parallel_setting(monkeypatch, value, expected):
    from provision.verify.settings import PARALLEL_ENV, parallel

    monkeypatch.setenv(PARALLEL_ENV, value)
    assert parallel() == expected


def test_docker_info_reads_the_json_after_any_error_lines():
    section = probe.Section(
        0, b'Cannot connect to the Docker daemon\n{"ServerVersion":"","ClientInfo":{}}\n'
    )
    assert probe.docker_info(section) == {"ServerVersion": "", "ClientInfo": {}}
    assert probe.docker_info(probe.Section(127, b"sh: docker: not found\n")) == {}
    assert probe.docker_info(probe.Section(0, b"{not json\n")) == {}


@pytest.fixture
def image_host(tmp_path, monkeypatch):
    """Stand-ins for docker and curl: curl serves ``archive``, docker records what it loads."""
    archive = tmp_path / "hello.tar"
    archive.write_bytes(b"an image archive\n")
    log = tmp_path / "docker.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(
        f'#!/bin/sh\nwhile [ "$1" != -o ]; do shift; done\ncp {archive} "$2"\n'
    )
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"
        f'case "$1" in image) exit 1;; load) sha256sum < "$3" >> {log};; esac\n'
        f'echo "docker $*" >> {log}\n'
    )
    for tool in ("curl", "docker"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    return archive, log


def test_an_image_archive_is_loaded_only_when_its_sha256_matches(image_host):
    import hashlib

    archive, log = image_host
    good = hashlib.sha256(archive.read_bytes()).hexdigest()
    settings = from_host_data(
        {
            "docker_verify_image": "lab/hello:1",
            "docker_verify_image_url": "http://mirror.example/hello.tar",
            "docker_verify_image_sha256": good,
        }
    )
    loaded = run_locally({"load": probe.load_command(settings) + "true"})["load"]
    assert loaded.ok and f"{good}  -" in log.read_text()

    log.unlink()
    wrong = from_host_data({**settings.__dict__, "docker_verify_image_sha256": "0" * 64})
    refused = run_locally({"load": probe.load_command(wrong) + "true"})["load"]
    assert refused.rc == 1
    assert "is not the image archive docker_verify_image_sha256 names; not loaded" in refused.text
    assert not log.exists()  # docker load never ran


@pytest.fixture
def docker_stand_in(tmp_path, monkeypatch):
    """A docker whose attached output is ``$ATTACHED`` (then ``$AGAIN`` for ``docker run``)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path}/calls\n'
        'case "$1" in\n'
        "  create) echo c0ffee ;;\n"
        '  start) printf "%s\\n" "$ATTACHED"; exit "${CODE:-0}" ;;\n'
        '  run) printf "%s\\n" "$AGAIN" ;;\n'
        """  inspect) echo '{"Type":"json-file","Config":{"max-size":"10m"}}' ;;\n"""
        "esac\n"
    )
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    return tmp_path / "calls"


def container_sections(settings) -> dict[str, probe.Section]:
    commands = probe.commands(settings)
    return run_locally({name: commands[name] for name in ("container", "log_config")})


SETTINGS = {"docker_verify_image": "lab/h:1", "docker_verify_output": "Hi *"}


def test_the_container_run_gives_its_output_and_log_configuration(docker_stand_in, monkeypatch):
    monkeypatch.setenv("ATTACHED", "Hi * there")
    sections = container_sections(from_host_data(SETTINGS))
    assert sections["container"] == probe.Section(0, b"Hi * there\n")
    assert sections["log_config"].text.startswith('{"Type":"json-file"')
    assert docker_stand_in.read_text().split("\n")[0] == "create --rm lab/h:1"
    assert "run" not in docker_stand_in.read_text()  # one run is enough
    monkeypatch.setenv("CODE", "3")
    assert container_sections(from_host_data(SETTINGS))["container"].rc == 3


def test_a_run_that_lost_its_output_is_tried_once_more(docker_stand_in, monkeypatch):
    monkeypatch.setenv("ATTACHED", "Hi")  # "Hi *" is a literal, not a pattern
    monkeypatch.setenv("AGAIN", "Hi * there")
    sections = container_sections(from_host_data(SETTINGS))
    assert sections["container"] == probe.Section(0, b"Hi\nHi * there\n")
    monkeypatch.setenv("CODE", "3")  # a failed run is not tried again
    assert container_sections(from_host_data(SETTINGS))["container"] == probe.Section(3, b"Hi\n")


def test_files_come_back_with_owner_mode_and_bytes(tmp_path):
    (tmp_path / "keyrings").mkdir(mode=0o755)
    (tmp_path / "keyrings").chmod(0o755)
    key = tmp_path / "keyrings" / "docker.asc"
    key.write_bytes(b"\x00\xffkey\n")
    key.chmod(0o640)
    (tmp_path / "link").symlink_to(key)
    paths = [str(tmp_path / "keyrings"), str(key), str(tmp_path / "link"), str(tmp_path / "gone")]
    found = probe.files(run_locally({"files": probe.files_command(paths)})["files"])
    me = f"{pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name}"
    assert set(found) == {str(tmp_path / "keyrings"), str(key), str(tmp_path / "link")}
    assert found[str(key)] == probe.HostFile("file", f"{me} 640", b"\x00\xffkey\n")
    assert found[str(tmp_path / "keyrings")].kind == "directory"
    assert found[str(tmp_path / "keyrings")].owner == f"{me} 755"
    assert found[str(tmp_path / "link")].kind == "link"  # not followed: the deploy writes files
    assert probe.files(probe.Section(0, b"")) == {}
    assert probe.files(probe.Section(0, b"not a tar" * 100)) == {}
