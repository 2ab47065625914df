"""apt sources as data: parsing, URI normalising, and taking one repository's entries out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provision.docker import aptsources
from provision.docker.aptsources import Repository, normalise, parse, without

KEYRING = "/etc/apt/keyrings/docker.asc"
DOCKER = Repository(
    (
        "https://download.docker.com/linux/debian",
        "https://download.docker.com/linux/ubuntu",
    ),
    ("stable", "test"),
    KEYRING,
)
LIST = "/etc/apt/sources.list.d/other.list"
DEB822 = "/etc/apt/sources.list.d/other.sources"


@pytest.mark.parametrize(
    "uri",
    [
        "https://download.docker.com/linux/debian",
        "https://download.docker.com/linux/debian/",
        "https://download.docker.com:443/linux/debian",
        "HTTPS://Download.Docker.COM/linux/debian",
        "https://download.docker.com/linux//debian",
        "https://download.docker.com//linux/./debian//",
        "https://download.docker.com/linux/x/../debian",
        "http://download.docker.com/linux/debian",
        "http://download.docker.com:80/linux/debian",
        "https://user:secret@download.docker.com/linux/debian",
        "https://download.docker.com./linux/debian",
    ],
)
def test_spellings_of_one_repository_normalise_alike(uri):
    assert normalise(uri) == ("http", "download.docker.com", None, "/linux/debian")


@pytest.mark.parametrize(
    "uri",
    [
        "https://download.docker.com/linux/debian-security",
        "https://download.docker.com/linux/debian/x",
        "https://download.docker.com/linux",
        "https://download.docker.com:8443/linux/debian",
        "http://download.docker.com:443/linux/debian",
        "https://download.docker.com.evil/linux/debian",
        "ftp://download.docker.com/linux/debian",
        "https://download.docker.com/Linux/debian",
    ],
)
def test_other_addresses_normalise_apart(uri):
    assert normalise(uri) != normalise("https://download.docker.com/linux/debian")


@pytest.mark.parametrize("uri", ["", "debian", "/linux/debian", "http://", "http://h:99999/x"])
def test_what_is_no_address_normalises_to_none(uri):
    assert normalise(uri) is None


def test_shown_drops_credentials():
    shown = aptsources.shown("https://u:secret@Mirror.internal:8443//docker/")
    assert shown == "https://mirror.internal:8443/docker"


def test_one_line_entries_with_options_and_comments():
    text = (
        "# deb https://a/ x main\n"
        "deb [ arch=amd64  trusted=yes ] https://a/debian bookworm stable # note\n"
        "deb-src https://b/ x main contrib\n"
        "deb https://c/#frag x main\n"
        "deb [signed-by=/k.gpg] https://d/\n"
        "rubbish\n"
    )
    entries = parse(LIST, text)
    assert [(e.uris, e.components, e.options, e.lines) for e in entries] == [
        (("https://a/debian",), ("stable",), {"arch": "amd64", "trusted": "yes"}, (1,)),
        (("https://b/",), ("main", "contrib"), {}, (2,)),
    ]  # apt ends a line at "#": "deb https://c/" names no suite


def test_deb822_stanzas_with_comments_continuations_and_case():
    text = (
        "# comment\n"
        "types: deb\n"
        "URIS: https://a/debian\n"
        "  https://b/debian\n"
        "# inside\n"
        "Suites: bookworm\n"
        "Components: stable\n"
        "Signed-By:\n"
        " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        " .\n"
        "\n"
        "\n"
        "Types: deb\n"
        "URIs: https://c/\n"
        "Enabled: no\n"
        "Components: main\n"
    )
    first, second = parse(DEB822, text)
    assert first.uris == ("https://a/debian", "https://b/debian")
    assert first.uri_lines == (2, 3) and first.lines == tuple(range(0, 10))
    assert first.options["signed-by"].startswith("-----BEGIN PGP")
    assert second.uris == ("https://c/",) and not second.enabled


def test_docker_lines_are_commented_out_and_reported_others_kept_byte_for_byte():
    text = (
        "deb http://deb.debian.org/debian bookworm main\r\n"
        "deb [trusted=yes] https://download.docker.com:443/linux//debian bookworm stable\n"
        "  # deb https://download.docker.com/linux/debian bookworm test\n"
        "deb [signed-by=/k.gpg] https://download.docker.com/linux/ubuntu a test\n"
        "deb https://download.docker.com/linux/debian-security bookworm stable\n"
        "deb https://download.docker.com/linux/debian"
    )
    removal = without(DOCKER, "/etc/apt/sources.list", text)
    assert removal.content == (
        "deb http://deb.debian.org/debian bookworm main\r\n"
        "# deb [trusted=yes] https://download.docker.com:443/linux//debian bookworm stable\n"
        "  # deb https://download.docker.com/linux/debian bookworm test\n"
        "# deb [signed-by=/k.gpg] https://download.docker.com/linux/ubuntu a test\n"
        "deb https://download.docker.com/linux/debian-security bookworm stable\n"
        "deb https://download.docker.com/linux/debian"
    )
    assert removal.sentences == (
        "comment out the entry of https://download.docker.com/linux/debian in "
        "/etc/apt/sources.list (trusted=yes: apt would accept it unsigned)",
        "comment out the entry of https://download.docker.com/linux/ubuntu in "
        "/etc/apt/sources.list (signed-by /k.gpg, not "
        "/etc/apt/keyrings/docker.asc)",
    )


def test_a_mirror_of_debian_under_dockers_address_is_not_docker():
    """``docker_repo_url`` at a Debian mirror's root: the mirror's ``main`` stays."""
    repository = Repository(("http://deb.debian.org/debian",), ("stable", "test"), KEYRING)
    text = "deb http://deb.debian.org/debian bookworm main\n"
    assert without(repository, "/etc/apt/sources.list", text) is None
    deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"
    assert without(repository, DEB822, deb822) is None


def test_a_file_holding_only_docker_is_removed_and_sources_list_never():
    text = "deb https://download.docker.com/linux/debian bookworm stable\n\n"
    assert without(DOCKER, LIST, text).content is None
    assert without(DOCKER, "/etc/apt/sources.list", text).content == f"# {text}"
    commented = "# added by hand\n" + text
    assert without(DOCKER, LIST, commented).content == f"# added by hand\n# {text}"


def test_deb822_keeps_the_other_uris_of_a_shared_stanza_and_comments_out_dockers():
    text = (
        "Types: deb\n"
        "URIs: https://download.docker.com/linux/debian\n"
        " http://mirror.internal/docker/debian\n"
        "Suites: bookworm\n"
        "Components: stable\n"
        "\n"
        "Types: deb\n"
        "URIs: https://download.docker.com/linux/debian/\n"
        "Suites: bookworm\n"
        "Components: stable\n"
        "Trusted: yes\n"
        "\n"
        "Types: deb\n"
        "URIs: https://download.docker.com/linux/debian\n"
        "Suites: bookworm\n"
        "Components: stable\n"
        "Enabled: no\n"
    )
    removal = without(DOCKER, DEB822, text)
    assert removal.content == (
        "Types: deb\n"
        "URIs: http://mirror.internal/docker/debian\n"
        "Suites: bookworm\n"
        "Components: stable\n"
        "\n"
        "# Types: deb\n"
        "# URIs: https://download.docker.com/linux/debian/\n"
        "# Suites: bookworm\n"
        "# Components: stable\n"
        "# Trusted: yes\n"
        "\n"
        "Types: deb\n"
        "URIs: https://download.docker.com/linux/debian\n"
        "Suites: bookworm\n"
        "Components: stable\n"
        "Enabled: no\n"
    )
    assert len(removal.sentences) == 2 and "trusted=yes" in removal.sentences[1]


# Property tests ------------------------------------------------------------------------------

CASES = st.sampled_from([str.lower, str.upper, str.title])
SLASHES = st.sampled_from(["/", "//", "/./", "///"])


@st.composite
def docker_spellings(draw) -> str:
    """Docker's repository URI as people and tools write it."""
    scheme = draw(CASES)("https")
    host = draw(CASES)("download.docker.com") + draw(st.sampled_from(["", "."]))
    port = draw(st.sampled_from(["", ":443"]))
    auth = draw(st.sampled_from(["", "user:pass@", "token@"]))
    s1, s2 = draw(SLASHES), draw(SLASHES)
    distro = draw(st.sampled_from(["debian", "ubuntu"]))
    tail = draw(st.sampled_from(["", "/", "//"]))
    return f"{scheme}://{auth}{host}{port}{s1}linux{s2}{distro}{tail}"


OPTIONS = st.sampled_from(
    [
        "",
        "[trusted=yes] ",
        "[ arch=amd64 ] ",
        "[arch=amd64 signed-by=/x.gpg] ",
        "[signed-by=/etc/apt/keyrings/docker.asc] ",
    ]
)
PATH_WORDS = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~/", min_size=0, max_size=24)


@given(uri=docker_spellings(), options=OPTIONS, channel=st.sampled_from(["stable", "test"]))
def test_every_spelling_of_dockers_repository_is_recognised(uri, options, channel):
    line = f"deb {options}{uri} bookworm {channel}"
    text = f"deb http://deb.debian.org/debian bookworm main\n{line}\n"
    removal = without(DOCKER, "/etc/apt/sources.list", text)
    assert removal.content == f"deb http://deb.debian.org/debian bookworm main\n# {line}\n"
    stanza = f"Types: deb\nURIs: {uri}\nSuites: bookworm\nComponents: {channel}\n"
    assert without(DOCKER, DEB822, stanza).content is None
    assert "pass" not in " ".join(removal.sentences)  # credentials are never shown


@given(path=PATH_WORDS, host=st.sampled_from(["download.docker.com", "DOWNLOAD.docker.com"]))
def test_other_addresses_on_dockers_host_are_never_touched(path, host):
    uri = f"https://{host}/{path}"
    if normalise(uri) in {normalise(own) for own in DOCKER.uris}:
        return  # a spelling of Docker's own address
    text = f"deb {uri} bookworm stable main\ndeb {uri} bookworm stable\n"
    assert without(DOCKER, "/etc/apt/sources.list", text) is None
    stanza = f"Types: deb\nURIs: {uri}\nSuites: bookworm\nComponents: stable\n"
    assert without(DOCKER, DEB822, stanza) is None


@given(text=st.text(st.characters(codec="utf-8"), max_size=300))
def test_any_text_parses_and_others_lines_survive(text):
    """Whatever a host's sources hold, parsing never fails and only Docker's lines change."""
    for path in (LIST, DEB822):
        removal = without(DOCKER, path, text)
        if removal is None or removal.content is None:
            continue
        before, after = text.split("\n"), removal.content.split("\n")
        if path == LIST:
            assert len(before) == len(after)
            assert all(a in (b, f"# {b}") for a, b in zip(after, before, strict=True))


def _mirrored() -> Repository:
    """Docker's repository as the deploy names it with ``docker_repo_url`` at a mirror that
    serves Debian too, under one host name."""
    from provision.docker.layout import docker_repository
    from provision.docker.settings import DockerSettings

    settings = DockerSettings(docker_repo_url="https://u:pw@mirror.internal/docker")
    repository = docker_repository(settings, "debian", "bookworm", "amd64")
    return Repository(repository.mirror_uris, repository.channels, repository.key_path)


MIRRORED = _mirrored()
MIRRORS_OWN = (
    "deb https://mirror.internal/debian bookworm main\n"
    "deb https://mirror.internal/debian-security bookworm-security main\n"
    "deb [signed-by=/usr/share/keyrings/x.gpg] https://mirror.internal/docker bookworm stable\n"
    "deb https://mirror.internal/docker/debian-extra bookworm stable\n"
    "deb http://deb.debian.org/debian bookworm main\n"
)


@given(uri=docker_spellings(), options=OPTIONS, channel=st.sampled_from(["stable", "test"]))
def test_with_a_mirror_dockers_upstream_entries_are_still_dockers(uri, options, channel):
    """``docker_repo_url`` elsewhere: ``download.docker.com`` in any spelling is still Docker's
    repository (a second source of it, and maybe unsigned), so it goes; the mirror's own
    entries for Debian and for other paths stay byte for byte."""
    line = f"deb {options}{uri} bookworm {channel}"
    removal = without(MIRRORED, "/etc/apt/sources.list", f"{MIRRORS_OWN}{line}\n")
    assert removal.content == f"{MIRRORS_OWN}# {line}\n"
    stanza = f"Types: deb\nURIs: {uri}\nSuites: bookworm\nComponents: {channel}\n"
    assert without(MIRRORED, DEB822, stanza).content is None
    shared = f"Types: deb\nURIs: https://mirror.internal/debian\n {uri}\nComponents: main\n"
    assert without(MIRRORED, DEB822, shared) is None  # Debian's main is not Docker's


def test_with_a_mirror_the_mirrors_docker_entries_go_too_and_others_stay():
    text = (
        f"{MIRRORS_OWN}"
        "deb https://MIRROR.internal:443/docker//ubuntu/ jammy stable\n"
        "deb [trusted=yes] https://download.docker.com/linux/raspbian bookworm stable\n"
    )
    removal = without(MIRRORED, LIST, text)
    assert removal.content == MIRRORS_OWN + "".join(f"# {line}\n" for line in text.splitlines()[5:])
    assert removal.sentences == (
        f"comment out the entry of https://mirror.internal/docker/ubuntu in {LIST}",
        f"comment out the entry of https://download.docker.com/linux/raspbian in {LIST} "
        "(trusted=yes: apt would accept it unsigned)",
    )


def test_the_deploy_names_dockers_upstream_beside_a_mirror_without_its_login():
    assert len(MIRRORED.uris) == 6 and set(MIRRORED.uris) == {
        f"{base}/{name}"
        for base in ("https://mirror.internal/docker", "https://download.docker.com/linux")
        for name in ("debian", "ubuntu", "raspbian")
    }
