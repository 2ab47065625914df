"""Which Docker repository a host gets, from real /etc/os-release texts."""

from __future__ import annotations

import pytest

from provision.docker.distro import (
    Target,
    detect,
    known_example,
    parse_os_release,
    release_hint,
)
from provision.docker.errors import UnsupportedHostError

UBUNTU_2204 = """\
PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"""

UBUNTU_2404 = """\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
"""

UBUNTU_2510 = """\
PRETTY_NAME="Ubuntu 25.10"
NAME="Ubuntu"
VERSION_ID="25.10"
VERSION="25.10 (Questing Quokka)"
VERSION_CODENAME=questing
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=questing
LOGO=ubuntu-logo
"""

UBUNTU_2604 = """\
PRETTY_NAME="Ubuntu 26.04 LTS"
NAME="Ubuntu"
VERSION_ID="26.04"
VERSION="26.04 LTS (Resolute Raccoon)"
VERSION_CODENAME=resolute
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=resolute
"""

UBUNTU_2004 = """\
NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
"""


def debian(version: str, codename: str, with_codename: bool = True) -> str:
    return (
        f'PRETTY_NAME="Debian GNU/Linux {version} ({codename})"\n'
        'NAME="Debian GNU/Linux"\n'
        f'VERSION_ID="{version}"\n'
        f'VERSION="{version} ({codename})"\n'
        + (f"VERSION_CODENAME={codename}\n" if with_codename else "")
        + "ID=debian\n"
        'HOME_URL="https://www.debian.org/"\n'
        'SUPPORT_URL="https://www.debian.org/support"\n'
        'BUG_REPORT_URL="https://bugs.debian.org/"\n'
    )


LINUX_MINT_22 = """\
NAME="Linux Mint"
VERSION="22 (Wilma)"
ID=linuxmint
ID_LIKE="ubuntu debian"
PRETTY_NAME="Linux Mint 22"
VERSION_ID="22"
HOME_URL="https://www.linuxmint.com/"
SUPPORT_URL="https://forums.linuxmint.com/"
VERSION_CODENAME=wilma
UBUNTU_CODENAME=noble
"""

POP_OS_2204 = """\
NAME="Pop!_OS"
VERSION="22.04 LTS"
ID=pop
ID_LIKE="ubuntu debian"
PRETTY_NAME="Pop!_OS 22.04 LTS"
VERSION_ID="22.04"
HOME_URL="https://pop.system76.com"
VERSION_CODENAME=jammy
UBUNTU_CODENAME=jammy
LOGO=distributor-logo-pop-os
"""

ELEMENTARY_7 = """\
PRETTY_NAME="elementary OS 7.1 Horus"
NAME="elementary OS"
VERSION_ID="7.1"
VERSION="7.1 Horus"
VERSION_CODENAME=horus
ID=elementary
ID_LIKE=ubuntu
HOME_URL="https://elementary.io/"
UBUNTU_CODENAME=jammy
"""

ZORIN_17 = """\
PRETTY_NAME="Zorin OS 17.2"
NAME="Zorin OS"
VERSION_ID="17"
VERSION="17.2"
VERSION_CODENAME=jammy
ID=zorin
ID_LIKE="ubuntu debian"
HOME_URL="https://zorin.com/os/"
UBUNTU_CODENAME=jammy
"""

RASPBIAN_12 = """\
PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"
NAME="Raspbian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=raspbian
ID_LIKE=debian
HOME_URL="http://www.raspbian.org/"
"""

LMDE_6 = """\
PRETTY_NAME="LMDE 6 (faye)"
NAME="LMDE"
VERSION_ID="6"
VERSION="6 (faye)"
VERSION_CODENAME=faye
ID=linuxmint
HOME_URL="https://www.linuxmint.com/"
ID_LIKE=debian
DEBIAN_CODENAME=bookworm
"""

FEDORA_40 = """\
NAME="Fedora Linux"
VERSION="40 (Server Edition)"
ID=fedora
VERSION_ID=40
VERSION_CODENAME=""
PLATFORM_ID="platform:f40"
PRETTY_NAME="Fedora Linux 40 (Server Edition)"
ANSI_COLOR="0;38;2;60;110;180"
"""

ALPINE_320 = """\
NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
HOME_URL="https://alpinelinux.org/"
"""

KALI = """\
PRETTY_NAME="Kali GNU/Linux Rolling"
NAME="Kali GNU/Linux"
VERSION_ID="2024.3"
VERSION="2024.3"
VERSION_CODENAME=kali-rolling
ID=kali
ID_LIKE=debian
"""

ARCHITECTURES = ["amd64", "arm64", "armhf", "ppc64el", "s390x"]


def target(text: str, arch: str = "amd64", **overrides) -> Target:
    return detect("web1", parse_os_release(text), arch, **overrides)


@pytest.mark.parametrize(
    ("text", "codename"),
    [
        (UBUNTU_2204, "jammy"),
        (UBUNTU_2404, "noble"),
        (UBUNTU_2510, "questing"),
        (UBUNTU_2604, "resolute"),
    ],
    ids=["22.04", "24.04", "25.10", "26.04"],
)
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_ubuntu_releases(text, codename, arch):
    assert target(text, arch) == Target("ubuntu", codename, arch)


@pytest.mark.parametrize(
    ("version", "codename"), [("11", "bullseye"), ("12", "bookworm"), ("13", "trixie")]
)
@pytest.mark.parametrize("with_codename", [True, False], ids=["codename", "no-codename"])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_debian_releases(version, codename, with_codename, arch):
    text = debian(version, codename, with_codename)
    assert ("VERSION_CODENAME" in text) == with_codename
    assert target(text, arch) == Target("debian", codename, arch)


@pytest.mark.parametrize(
    ("text", "codename"),
    [
        (LINUX_MINT_22, "noble"),
        (POP_OS_2204, "jammy"),
        (ELEMENTARY_7, "jammy"),
        (ZORIN_17, "jammy"),
    ],
    ids=["linuxmint", "pop", "elementary", "zorin"],
)
def test_ubuntu_derivatives_use_ubuntu_with_their_ubuntu_codename(text, codename):
    assert target(text) == Target("ubuntu", codename, "amd64")


def test_linux_mint_uses_ubuntu_codename_not_its_own():
    os_release = parse_os_release(LINUX_MINT_22)
    assert os_release["VERSION_CODENAME"] == "wilma"
    assert detect("mint", os_release, "amd64").codename == "noble"


def test_raspberry_pi_os_32_bit_uses_raspbian_repository():
    assert target(RASPBIAN_12, "armhf") == Target("raspbian", "bookworm", "armhf")


def test_raspbian_id_on_arm64_uses_debian_repository():
    # Docker publishes no arm64 packages in its raspbian repository.
    assert target(RASPBIAN_12, "arm64") == Target("debian", "bookworm", "arm64")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (FEDORA_40, "Fedora Linux 40 (Server Edition)"),
        (ALPINE_320, "Alpine Linux v3.20"),
        (KALI, "Kali GNU/Linux Rolling"),
    ],
    ids=["fedora", "alpine", "kali"],
)
def test_unsupported_systems_are_refused_with_the_fix(text, shown):
    with pytest.raises(UnsupportedHostError) as raised:
        detect("db7", parse_os_release(text), "amd64")
    message = str(raised.value)
    assert message.startswith("db7: ")
    assert shown in message
    assert "docker_distro" in message and "docker_codename" in message


def test_a_release_outside_the_table_goes_to_the_repository_with_a_hint():
    found = target(UBUNTU_2004)  # Docker's repository decides (the preflight asks it)
    assert found == Target("ubuntu", "focal", "amd64")
    assert release_hint(found) == (
        " (focal is not among the ubuntu releases Docker is known to publish: jammy, noble, "
        "questing, resolute)"
    )
    assert release_hint(Target("ubuntu", "noble", "amd64")) == ""


@pytest.mark.parametrize("arch", ["i386", "riscv64", ""])
def test_architectures_without_docker_packages_are_refused(arch):
    with pytest.raises(UnsupportedHostError) as raised:
        detect("pi0", parse_os_release(UBUNTU_2404), arch)
    message = str(raised.value)
    assert message.startswith("pi0: architecture ")
    assert (arch or "unknown") in message
    for supported in ARCHITECTURES:
        assert supported in message


def test_empty_os_release_is_refused():
    with pytest.raises(UnsupportedHostError, match=r"^h: an unknown system \(\? \?\)"):
        detect("h", {}, "amd64")


def test_overriding_distro_and_codename_for_an_unknown_system():
    with pytest.raises(UnsupportedHostError):
        target(KALI)
    assert detect(
        "kali1", parse_os_release(KALI), "amd64", distro="debian", codename="bookworm"
    ) == Target("debian", "bookworm", "amd64")


def test_overriding_only_the_codename_keeps_the_detected_distro():
    oracular = UBUNTU_2404.replace("noble", "oracular")
    assert target(oracular).codename == "oracular"
    assert detect("u", parse_os_release(oracular), "arm64", codename="noble") == Target(
        "ubuntu", "noble", "arm64"
    )


def test_overriding_only_the_distro_guesses_its_codename():
    assert detect("pi", parse_os_release(RASPBIAN_12), "arm64", distro="raspbian") == Target(
        "raspbian", "bookworm", "arm64"
    )


def test_an_override_to_a_pair_outside_the_table_is_left_to_the_repository():
    found = detect("web1", parse_os_release(debian("12", "bookworm")), "amd64", distro="ubuntu")
    assert found == Target("ubuntu", "bookworm", "amd64")
    assert "bookworm is not among the ubuntu releases" in release_hint(found)


def test_lmde_uses_the_debian_repository_with_its_debian_codename():
    # Linux Mint Debian Edition: ID=linuxmint like Mint, but Debian-based.
    assert target(LMDE_6) == Target("debian", "bookworm", "amd64")


def test_parse_os_release_handles_quotes_comments_and_blank_lines():
    text = (
        "# written by the image builder\n\n"
        'NAME="Debian GNU/Linux"\n'
        "ID='debian'\n"
        "  VERSION_CODENAME=bookworm  \n"
        'ID_LIKE="ubuntu debian"\n'
        "not a pair\n"
    )
    assert parse_os_release(text) == {
        "NAME": "Debian GNU/Linux",
        "ID": "debian",
        "VERSION_CODENAME": "bookworm",
        "ID_LIKE": "ubuntu debian",
    }


def test_a_release_outside_the_table_gets_the_newest_known_as_an_example():
    assert known_example(Target("debian", "forky", "amd64")) == ", such as trixie"
    assert known_example(Target("raspbian", "forky", "armhf")) == ", such as trixie"
    assert known_example(Target("ubuntu", "zesty", "amd64")) == ", such as resolute"
    assert known_example(Target("debian", "bookworm", "amd64")) == ""
