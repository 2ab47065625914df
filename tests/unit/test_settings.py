"""Settings: defaults, geerlingguy-compatible names, validation that reports everything at once."""

from __future__ import annotations

import dataclasses
import re
import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.core.errors import SettingsError
from provision.docker.settings import DOCKER_FINGERPRINT, SETTING_NAMES, DockerSettings
from provision.docker.validation import from_host_data


def test_defaults_follow_dockers_install_guide():
    settings = from_host_data({})
    assert settings == DockerSettings()
    assert settings.docker_packages == (
        "docker-ce",
        "docker-ce-cli",
        "containerd.io",
        "docker-buildx-plugin",
        "docker-compose-plugin",
    )
    # the conflicting packages Docker's guide removes first
    assert set(settings.docker_obsolete_packages) >= {
        "docker.io",
        "docker-doc",
        "docker-compose",
        "docker-compose-v2",
        "podman-docker",
        "containerd",
        "runc",
    }
    assert settings.docker_gpg_fingerprint == "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
    assert DOCKER_FINGERPRINT == settings.docker_gpg_fingerprint
    assert settings.docker_repo_url == "https://download.docker.com/linux"
    assert settings.docker_channel == "stable"
    assert settings.docker_version is None and settings.docker_hold is False
    assert settings.docker_packages_state == "present"
    assert settings.docker_users == () and dict(settings.docker_daemon_options) == {}
    assert (settings.docker_service_state, settings.docker_service_enabled) == ("started", True)
    assert settings.docker_purge_data is False
    assert settings.docker_apt_lock_timeout == 300


def test_settings_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DockerSettings().docker_channel = "test"  # type: ignore[misc]


def test_geerlingguy_role_names_are_accepted():
    data = {
        "docker_packages": ["docker-ce", "docker-ce-cli", "containerd.io"],
        "docker_obsolete_packages": ["docker.io", "podman-docker"],
        "docker_users": ["alice", "deploy"],
        "docker_daemon_options": {"log-driver": "local", "log-opts": {"max-size": "10m"}},
        "docker_repo_url": "https://download.docker.com/linux",
        "docker_service_state": "stopped",
        "docker_service_enabled": False,
        "docker_packages_state": "latest",
    }
    settings = from_host_data(data, "web1")
    assert settings.docker_packages_state == "latest"
    assert settings.docker_packages == ("docker-ce", "docker-ce-cli", "containerd.io")
    assert settings.docker_obsolete_packages == ("docker.io", "podman-docker")
    assert settings.docker_users == ("alice", "deploy")
    assert settings.docker_daemon_options == data["docker_daemon_options"]
    assert settings.docker_service_state == "stopped"
    assert settings.docker_service_enabled is False


def test_other_keys_connector_keys_and_none_values_are_ignored():
    settings = from_host_data(
        {
            "ssh_user": "admin",
            "docker_version": None,
            # host data of pyinfra's docker connectors, not settings of this deploy
            "docker_architecture": "arm64",
            "docker_identifier": "abc123",
            "docker_platform": "linux/arm64",
        }
    )
    assert settings == DockerSettings()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("docker_chanel", "docker_chanel is not a setting (did you mean docker_channel?)"),
        (
            "docker_apt_release_channel",
            "docker_apt_release_channel is not a setting (did you mean docker_channel?)",
        ),
        (
            "docker_apt_gpg_key",
            "docker_apt_gpg_key is not a setting (did you mean docker_gpg_key_url?)",
        ),
        ("docker_apt_arch", "docker_apt_arch is not a setting (did you mean docker_arch?)"),
        ("docker_install_compose", "docker_install_compose is not a setting"),
        ("docker_user", "docker_user is not a setting (did you mean docker_users?)"),
        ("docker_image", "docker_image is not a setting."),  # no hint far from every name
        ("docker_compose", "docker_compose is not a setting."),
    ],
)
def test_unknown_docker_keys_are_errors_with_a_suggestion(name, problem):
    with pytest.raises(SettingsError) as raised:
        from_host_data({name: True, "ssh_user": "admin"}, "web1")
    assert str(raised.value).startswith(f"web1: {problem}")
    assert str(raised.value).count("is not a setting") == 1  # ssh_user is no docker_ key


def test_unknown_keys_are_reported_with_the_other_problems():
    with pytest.raises(SettingsError) as raised:
        from_host_data({"docker_chanel": "test", "docker_hold": "yes"}, "web1")
    message = str(raised.value)
    assert "docker_chanel is not a setting (did you mean docker_channel?)" in message
    assert "docker_hold must be true or false, got 'yes'" in message


def test_every_setting_has_a_docker_prefix_but_apts_proxy():
    assert [name for name in SETTING_NAMES if not name.startswith("docker_")] == ["apt_proxy"]


def test_a_single_name_is_a_list_of_one():
    assert from_host_data({"docker_users": "alice"}).docker_users == ("alice",)


def test_key_url_defaults_to_the_repositorys_gpg_file():
    settings = DockerSettings()
    assert settings.key_url("ubuntu") == "https://download.docker.com/linux/ubuntu/gpg"
    mirror = from_host_data(
        {
            "docker_repo_url": "https://mirror.example.org/docker/linux/",
            "docker_gpg_key_url": "https://keys.example.org/docker.asc",
        }
    )
    assert mirror.docker_repo_url == "https://mirror.example.org/docker/linux"
    assert mirror.key_url("debian") == "https://keys.example.org/docker.asc"


def test_no_pins_or_holds_by_default():
    assert DockerSettings().pins() == {}
    assert DockerSettings().holds() == []


def test_version_pins_docker_ce_and_its_cli():
    settings = from_host_data({"docker_version": "26.1.5", "docker_hold": True})
    assert settings.pins() == {"docker-ce": "26.1.5", "docker-ce-cli": "26.1.5"}
    assert settings.holds() == ["docker-ce", "docker-ce-cli"]


def test_pins_and_holds_only_cover_packages_that_are_installed():
    settings = from_host_data(
        {"docker_packages": ["docker-ce", "containerd.io"], "docker_version": "27.3.1"}
    )
    assert settings.pins() == {"docker-ce": "27.3.1"}
    held = from_host_data({"docker_packages": ["docker-ce-cli"], "docker_hold": True})
    assert held.holds() == ["docker-ce-cli"]


@pytest.mark.parametrize(
    "version",
    [
        "26.1.5",
        "26.1.5-1",
        "5:26.1.5-1~ubuntu.24.04~noble",
        "5:20.10.24~3-0~debian-bookworm",
    ],
)
def test_valid_versions(version):
    assert from_host_data({"docker_version": version}).docker_version == version


@pytest.mark.parametrize("version", ["27.0", "27.5", "28.10"])
def test_partial_versions_are_releases(version):
    assert from_host_data({"docker_version": version}).docker_version == version


@pytest.mark.parametrize("version", ["27", "26.1.5.", "26.1.5 ", "v26.1.5", "26.1.x", "1.2.3.4"])
def test_versions_need_a_release(version):
    with pytest.raises(SettingsError, match="docker_version must look like 27.5 ") as raised:
        from_host_data({"docker_version": version}, "web1")
    assert f"got {version!r}" in str(raised.value)


@pytest.mark.parametrize("given", [26.1, 27.0, 27, 28.10])
def test_a_numeric_version_is_refused(given):
    # a number loses digits (28.10 is 28.1): a version is written as a string
    with pytest.raises(SettingsError) as raised:
        from_host_data({"docker_version": given}, "web1")
    assert str(raised.value) == (
        "web1: docker_version must look like 27.5 (the newest 27.5.x), 27.5.1 or a full version "
        f"string, written as a string, got {given!r}."
    )


def test_containerd_and_the_plugins_are_pinned_on_their_own():
    settings = from_host_data(
        {
            "docker_version": "27.5",
            "docker_package_versions": {"containerd.io": "1.7", "docker-compose-plugin": "2.40.3"},
            "docker_hold": True,
        }
    )
    assert settings.pins() == {
        "docker-ce": "27.5",
        "docker-ce-cli": "27.5",
        "containerd.io": "1.7",
        "docker-compose-plugin": "2.40.3",
    }
    assert settings.holds() == [
        "docker-ce",
        "docker-ce-cli",
        "containerd.io",
        "docker-compose-plugin",
    ]


@pytest.mark.parametrize(
    ("versions", "problem"),
    [
        ({"docker-ce": "27.5"}, "docker_package_versions cannot pin docker-ce: docker_version"),
        ({"runc": "1.1"}, "docker_package_versions names 'runc', which docker_packages lacks"),
        ({"containerd.io": "1.7; rm"}, "docker_package_versions['containerd.io'] must look"),
        ({"containerd.io": 1.7}, "docker_package_versions['containerd.io'] must look"),
        (["containerd.io"], "docker_package_versions must map package names to versions"),
    ],
)
def test_bad_package_versions_are_refused(versions, problem):
    with pytest.raises(SettingsError, match=re.escape(problem)):
        from_host_data({"docker_package_versions": versions}, "web1")


@pytest.mark.parametrize("codename", ["Bookworm", "book worm", "trixie;", "../x", "$(id)", 13])
def test_codenames_have_a_strict_grammar(codename):
    with pytest.raises(SettingsError, match="docker_codename must be a "):
        from_host_data({"docker_codename": codename}, "web1")


@pytest.mark.parametrize(
    "image",
    [
        "hello-world",
        "library/hello-world:latest",
        "registry.example.org:5000/lab/hello-world",
        "hello-world@sha256:" + "ab" * 32,
    ],
)
def test_valid_verify_images(image):
    assert from_host_data({"docker_verify_image": image}).docker_verify_image == image


@pytest.mark.parametrize("image", ["Hello-World", "hello world", "hello;rm -rf /", "-x", ""])
def test_verify_image_must_be_an_image_reference(image):
    with pytest.raises(SettingsError) as raised:
        from_host_data({"docker_verify_image": image}, "web1")
    assert f"docker_verify_image must be an image reference, got {image!r}" in str(raised.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("9dc858229fc7dd38854ae2d88d81803c0ebfcd88", DOCKER_FINGERPRINT),
        ("9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88", DOCKER_FINGERPRINT),
        ("9dc8 5822 9fc7 dd38 854a e2d8 8d81 803c 0ebf cd88", DOCKER_FINGERPRINT),
        ("ab" * 32, "AB" * 32),  # v6 keys have 64-digit fingerprints
    ],
)
def test_fingerprints_are_normalised(given, expected):
    assert from_host_data({"docker_gpg_fingerprint": given}).docker_gpg_fingerprint == expected


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"docker_channel": "nightly"}, "docker_channel must be one of stable, test"),
        ({"docker_packages_state": "absent"}, "docker_packages_state must be one of present"),
        ({"docker_service_state": "running"}, "docker_service_state must be one of started"),
        ({"docker_distro": "fedora"}, "docker_distro must be one of ubuntu, debian, raspbian"),
        ({"docker_hold": "yes"}, "docker_hold must be true or false"),
        ({"docker_service_enabled": 1}, "docker_service_enabled must be true or false"),
        ({"docker_purge_data": "false"}, "docker_purge_data must be true or false"),
        ({"docker_version": "latest"}, "docker_version must look like 27.5"),
        ({"docker_gpg_fingerprint": "0EBFCD88"}, "docker_gpg_fingerprint must be 40"),
        ({"docker_repo_url": "download.docker.com"}, "docker_repo_url must be an http(s)://"),
        ({"docker_gpg_key_url": "ftp://x/gpg"}, "docker_gpg_key_url must be an http(s)://"),
        ({"docker_daemon_options": ["debug"]}, "docker_daemon_options must be a mapping"),
        ({"docker_apt_lock_timeout": -1}, "docker_apt_lock_timeout must be a whole number"),
        ({"docker_apt_lock_timeout": True}, "docker_apt_lock_timeout must be a whole number"),
        ({"docker_packages": ["docker-ce", ""]}, "docker_packages must be a list of names"),
        ({"docker_obsolete_packages": {"a": 1}}, "docker_obsolete_packages must be a list"),
        ({"docker_users": ["Alice Smith"]}, "docker_users has invalid user names: 'Alice Smith'"),
        ({"docker_packages": ["docker-ce", "-o"]}, "docker_packages has invalid package names"),
        ({"docker_obsolete_packages": ["a b"]}, "docker_obsolete_packages has invalid package"),
        ({"docker_verify_image_sha256": "abc"}, "docker_verify_image_sha256 must be 64 hex"),
        ({"docker_verify_output": 7}, "docker_verify_output must be a string"),
        ({"docker_arch": ["amd64", "arm64"]}, "docker_arch must be a string, got a list"),
        ({"docker_arch": "amd64\nX"}, "docker_arch must be a Debian architecture"),
        ({"docker_codename": {"a": 1}}, "docker_codename must be a string, got a mapping"),
        ({"docker_codename": "-bookworm"}, "docker_codename must be a release codename"),
        ({"docker_channel": ["stable"]}, "docker_channel must be a string, got a list"),
        ({"docker_repo_url": ["https://x"]}, "docker_repo_url must be a string, got a list"),
        ({"docker_version": [26]}, "docker_version must be a string"),
        ({"docker_data_root": "/var/lib/../../tmp"}, "without . or .. steps, got '/var/lib/"),
        ({"docker_data_root": "/srv/./docker"}, "docker_data_root must be an absolute path"),
        ({"docker_data_root": "//"}, "docker_data_root cannot be the root directory"),
        ({"docker_data_root": 7}, "docker_data_root must be a string, got a whole number 7"),
        (
            {"docker_daemon_options": {"data-root": "/srv/../tmp"}},
            "docker_daemon_options['data-root'] must be an absolute path without . or .. steps",
        ),
    ],
)
def test_each_invalid_setting_is_named(data, problem):
    with pytest.raises(SettingsError) as raised:
        from_host_data(data, "web3")
    assert str(raised.value).startswith("web3: ")
    assert problem in str(raised.value)


def test_all_problems_are_reported_in_one_message_naming_the_host():
    data = {
        "docker_channel": "edge",
        "docker_hold": "yes",
        "docker_daemon_options": "debug=true",
        "docker_version": "newest",
        "docker_repo_url": "not a url",
        "docker_users": ["alice", "bad user", "x;rm -rf /"],
    }
    with pytest.raises(SettingsError) as raised:
        from_host_data(data, "db2.example.org")
    message = str(raised.value)
    assert message.startswith("db2.example.org: ")
    assert message.endswith(".")
    for problem in (
        "docker_channel must be one of stable, test, got 'edge'",
        "docker_hold must be true or false, got 'yes'",
        "docker_daemon_options must be a mapping, got str",
        "docker_version must look like 27.5 (the newest 27.5.x), 27.5.1 or a full version string, "
        "written as a string, got 'newest'",
        "docker_repo_url must be an http(s):// or file:// URL without quotes, backquotes, $, "
        "backslashes, white space or control characters, got 'not a url'",
        "docker_users has invalid user names: 'bad user', 'x;rm -rf /'",
    ):
        assert problem in message
    assert message.count(";") >= 5  # one sentence, problems separated by semicolons


@pytest.mark.parametrize("user", ["alice", "_svc", "build-agent", "ci.runner", "machine$"])
def test_valid_user_names(user):
    assert from_host_data({"docker_users": [user]}).docker_users == (user,)


def test_file_urls_are_allowed_for_local_mirrors():
    settings = from_host_data({"docker_repo_url": "file:///srv/mirror/docker/linux"})
    assert settings.key_url("debian") == "file:///srv/mirror/docker/linux/debian/gpg"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"apt_proxy": "file:///etc/passwd"}, "apt_proxy"),
        ({"docker_proxy": {"https": "file:///run/proxy"}}, "docker_proxy['https']"),
        ({"docker_registry_mirrors": ["file:///srv/registry"]}, "docker_registry_mirrors"),
    ],
)
def test_proxies_and_mirrors_are_servers_not_files(data, name):
    with pytest.raises(SettingsError, match=re.escape(f"{name} must be an http:// or https://")):
        from_host_data(data)
    assert from_host_data({"apt_proxy": "http://proxy.example:3128/"}).apt_proxy == (
        "http://proxy.example:3128"
    )


def test_daemon_options_of_the_wrong_type_are_all_reported():
    with pytest.raises(SettingsError) as raised:
        from_host_data(
            {"docker_daemon_options": {"debug": "yes", "mtu": True, "log-opts": {"max-size": 10}}},
            "web1",
        )
    message = str(raised.value)
    assert message.startswith("web1: ")
    assert "['debug'] must be true or false" in message
    assert "['mtu'] must be a whole number" in message
    assert "'log-opts'] values must be strings" in message


URL_SETTINGS = ("docker_repo_url", "docker_gpg_key_url", "docker_verify_image_url")


@pytest.mark.parametrize("name", URL_SETTINGS)
@pytest.mark.parametrize(
    "bad", ["'", '"', "`", "$", "\\", " ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f"]
)
def test_urls_with_shell_or_control_characters_are_refused(name, bad):
    with pytest.raises(SettingsError, match=f"{name} must be an http"):
        from_host_data({name: f"https://mirror.example/linux{bad}x"}, "web1")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(URL_SETTINGS), st.text(max_size=30))
def test_an_accepted_url_holds_nothing_a_shell_or_apt_would_read(name, tail):
    try:
        value = getattr(from_host_data({name: f"https://m.example/{tail}"}), name)
    except SettingsError:
        return
    assert not set(value) & set("'\"`$\\ \t\n\r")
    assert all(ord(c) >= 32 and ord(c) != 127 for c in value)
    assert shlex.split(shlex.quote(value)) == [value]


@pytest.mark.parametrize("name", (*URL_SETTINGS, "apt_proxy"))
@pytest.mark.parametrize(
    "server",
    [
        ";:.internal",
        "a;b",
        "h:",
        "h:0",
        "h:65536",
        "h:8o",
        "[::1]x",
        "-bad.example",
        "a..b",
        "a b",
        "%68ost",
        "a:b@;",
        "[::1",
    ],
)
def test_a_url_whose_server_another_reader_could_split_elsewhere_is_refused(name, server):
    """``https://;:.internal/…`` reads as host ``;`` to some and ``;:.internal`` to others."""
    with pytest.raises(SettingsError, match=f"{name} must"):
        from_host_data({name: f"https://{server}/linux"}, "web1")


@pytest.mark.parametrize(
    "url",
    [
        "https://download.docker.com/linux",
        "http://10.77.0.1:8780/linux",
        "http://pull:s3cr%40t@mirror_1.internal:3128/docker",
        "https://[fd00::1]:8443/linux",
        "https://mirror.internal./linux",
        "file:///srv/docker",
    ],
)
def test_urls_naming_their_server_plainly_are_accepted(url):
    assert from_host_data({"docker_repo_url": url}).docker_repo_url == url


def test_the_default_container_check_expects_hello_worlds_greeting():
    assert DockerSettings().verify_output() == "Hello from Docker!"
    assert from_host_data({"docker_verify_image": "alpine"}).verify_output() is None
    custom = {"docker_verify_image": "lab/hello", "docker_verify_output": "Hello from the lab"}
    assert from_host_data(custom).verify_output() == "Hello from the lab"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("docker_rootless_users", ["alice\n"]),
        ("docker_users", ["alice\n"]),
        ("docker_packages", ["docker-ce\n"]),
        ("docker_repo_url", "https://m.example/\n"),
        ("docker_version", "26.1.5\n"),
        ("docker_verify_image", "hello-world\n"),
        ("docker_verify_image_sha256", "0" * 64 + "\n"),
        ("docker_insecure_registries", ["registry:5000\n"]),
        ("docker_data_root", "/srv/docker\n"),
        ("apt_proxy", "http://proxy:3128\n"),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_value(name, value):
    with pytest.raises(SettingsError, match=name):
        from_host_data({name: value})


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            {"docker_users": ["ci", "bob"], "docker_rootless_users": ["ci"]},
            "ci in both docker_users and docker_rootless_users",
        ),
        ({"docker_packages": []}, "docker_packages is empty; leave it out"),
        (
            {"docker_verify_image_sha256": "a" * 64},
            "docker_verify_image_sha256 needs docker_verify_image_url",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_refused(data, problem):
    with pytest.raises(SettingsError, match=f"^web1: {problem}"):
        from_host_data(data, "web1")


@pytest.mark.parametrize(
    ("given", "kept"),
    [("/srv/docker", "/srv/docker"), ("//srv//docker/", "/srv/docker"), ("/a.b/c", "/a.b/c")],
)
def test_the_data_root_is_normalised(given, kept):
    assert from_host_data({"docker_data_root": given}).docker_data_root == kept
    options = from_host_data({"docker_daemon_options": {"data-root": given, "debug": True}})
    assert options.docker_daemon_options == {"data-root": kept, "debug": True}


# what a value may never carry into a command line or a file once accepted
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
HOSTILE = st.builds(
    lambda head, middle, tail: head + middle + tail,
    st.sampled_from(["", "-", "--", "-o", "a", "/srv/", "http://h/"]),
    st.sampled_from(["", "\x00", "\r", "\n", "\u2028", "\x85", "\u2029", "$(id)", " "]),
    st.text(alphabet="abc-/.:\x00\r\x85\u2028", max_size=6),
)
SINGLE_VALUES = (
    "docker_arch",
    "docker_codename",
    "docker_data_root",
    "docker_version",
    "docker_verify_image",
    "docker_repo_url",
    "docker_gpg_key_url",
    "apt_proxy",
    "docker_log_driver",
)
LIST_VALUES = ("docker_packages", "docker_users", "docker_registry_mirrors")


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(SINGLE_VALUES + LIST_VALUES), value=HOSTILE)
def test_hostile_values_are_refused_in_one_line_or_carry_nothing_unsafe(name, value):
    data = {name: [value] if name in LIST_VALUES else value}
    try:
        accepted = getattr(from_host_data(data, "web1"), name)
    except SettingsError as error:
        assert "\n" not in str(error) and not UNSAFE.search(str(error))
        return
    for item in accepted if name in LIST_VALUES else [accepted]:
        assert not UNSAFE.search(item) and not item.startswith("-")
