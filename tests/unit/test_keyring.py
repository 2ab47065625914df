"""Keys read on the controller: checked against gpg's own reading, and every crafted download
of the trust-boundary attacks refused."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

from provision.docker import keyring
from provision.docker.settings import DOCKER_FINGERPRINT

from .fakes import DOCKER_KEY, DOCKER_SUBKEY, synthetic_key, v4_fingerprint

GPG = shutil.which("gpg")
needs_gpg = pytest.mark.skipif(GPG is None, reason="gpg is not installed")
BEGIN, END = keyring.BEGIN, keyring.END


class Gpg:
    """A throwaway GnuPG home with generated keys."""

    def __init__(self, home: str):
        self.env = dict(os.environ, GNUPGHOME=home)

    def run(self, *args: str, data: bytes | None = None) -> bytes:
        return subprocess.run(
            [GPG, "--batch", "--no-tty", *args],
            env=self.env,
            check=True,
            capture_output=True,
            input=data,
        ).stdout

    def generate(self, uid: str, algo: str, subkey: str | None = None) -> None:
        self.run("--passphrase", "", "--quick-gen-key", uid, algo, "default", "never")
        if subkey:
            primary = self.fingerprints(uid)[0]
            self.run("--passphrase", "", "--quick-add-key", primary, subkey, "encr", "never")

    def fingerprints(self, uid: str) -> list[str]:
        """Primary then subkey fingerprints, as ``gpg --with-colons`` prints them."""
        out = self.run("--with-colons", "--with-subkey-fingerprints", "--list-keys", uid)
        return [line.split(":")[9] for line in out.decode().splitlines() if line[:4] == "fpr:"]

    def shown(self, data: bytes) -> list[str]:
        """Primary key fingerprints gpg finds in ``data`` without importing it."""
        out = self.run(
            "--with-colons", "--import-options", "show-only", "--import", data=data
        ).decode()
        lines = out.splitlines()
        return [
            lines[i + 1].split(":")[9]
            for i, line in enumerate(lines[:-1])
            if line.startswith("pub:") and lines[i + 1].startswith("fpr:")
        ]


@pytest.fixture(scope="module")
def gpg():
    if GPG is None:
        pytest.skip("gpg is not installed")
    home = tempfile.mkdtemp(prefix="gpg", dir="/tmp")  # short: the agent's socket lives here
    os.chmod(home, 0o700)
    tool = Gpg(home)
    try:
        tool.generate("Ed Key <ed@example.org>", "future-default")  # ed25519 + cv25519 subkey
        tool.generate("RSA Key <rsa@example.org>", "rsa2048", "rsa2048")
        yield tool
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=tool.env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def armor_lines(data: bytes) -> list[str]:
    return data.decode().strip().split("\n")


# what is accepted ---------------------------------------------------------------------------


@needs_gpg
@pytest.mark.parametrize("uid", ["ed@example.org", "rsa@example.org"])
@pytest.mark.parametrize("armor", [True, False], ids=["armored", "binary"])
def test_a_gpg_export_is_accepted_with_gpgs_fingerprints(gpg, uid, armor):
    exported = gpg.run("--export", *(["--armor"] if armor else []), uid)
    expected = gpg.fingerprints(uid)
    key = keyring.checked_key(exported, expected[0])
    assert [key.fingerprint, *key.subkeys] == expected
    assert key.binary() == gpg.run("--export", uid)
    assert gpg.shown(key.armored()) == [expected[0]]  # what is written, read back by gpg


def test_dockers_published_key_is_written_exactly_as_docker_publishes_it():
    key = keyring.checked_key(DOCKER_KEY, DOCKER_FINGERPRINT)
    assert (key.fingerprint, key.subkeys) == (DOCKER_FINGERPRINT, [DOCKER_SUBKEY])
    assert key.armored() == DOCKER_KEY


def test_a_binary_download_is_written_armored():
    binary = keyring.checked_key(DOCKER_KEY, DOCKER_FINGERPRINT).binary()
    assert binary[:1] != b"-"
    assert keyring.checked_key(binary, DOCKER_FINGERPRINT).armored() == DOCKER_KEY


def test_armor_with_headers_crlf_and_blank_lines_around_is_accepted_and_normalised():
    text = DOCKER_KEY.decode().replace(
        BEGIN + "\n", BEGIN + "\nVersion: GnuPG v2\nComment: Docker Release (CE deb)\n"
    )
    data = ("\n\n  " + text.replace("\n", "\r\n") + "\r\n\n").encode()
    assert keyring.checked_key(data, DOCKER_FINGERPRINT).armored() == DOCKER_KEY


def test_armor_without_the_blank_line_after_the_header_or_a_checksum_is_accepted():
    lines = armor_lines(DOCKER_KEY)
    assert lines[1] == "" and lines[-2].startswith("=")
    bare = "\n".join([lines[0], *lines[2:-2], lines[-1]]).encode()
    assert keyring.checked_key(bare, DOCKER_FINGERPRINT).armored() == DOCKER_KEY


@pytest.mark.parametrize(
    ("size", "form"),
    [(50, 1), (191, 1), (192, 2), (1000, 2), (8383, 2), (8384, 5), (40000, 5), (100, 5)],
)
def test_new_format_packet_lengths(size, form):
    body = b"\x04" + bytes(size - 1)
    if form == 1:
        header = bytes([size])
    elif form == 2:
        header = bytes([((size - 192) >> 8) + 192, (size - 192) & 0xFF])
    else:
        header = b"\xff" + size.to_bytes(4, "big")
    packet = bytes([0xC0 | 6]) + header + body  # new format, tag 6
    expected = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    assert [len(p.body) for p in keyring.packets(packet)] == [size]
    key = keyring.checked_key(packet + bytes([0xC0 | 14]) + header + body, expected)
    assert key.subkeys == [expected]


def test_synthetic_key_fingerprint_follows_the_rfc():
    packet = synthetic_key(b"seed")
    assert keyring.checked_key(packet, v4_fingerprint(packet)).binary() == packet


def test_v6_fingerprint_is_sha256():
    body = b"\x06" + bytes(40)
    expected = hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    assert keyring.fingerprint(body) == expected and len(expected) == 64


def test_crc24_of_the_rfcs_example():
    assert keyring.crc24(b"") == 0xB704CE
    assert keyring.crc24(b"123456789") == 0x21CF02  # the CRC-24/OpenPGP check value


# what is refused: the trust-boundary attacks ------------------------------------------------

OTHER = synthetic_key(b"attacker")
OTHER_ARMOR = keyring.PublicKey(tuple(keyring.packets(OTHER))).armored()


def refusal(data: bytes, wanted: str = DOCKER_FINGERPRINT) -> str:
    with pytest.raises(keyring.NotAKeyError) as error:
        keyring.checked_key(data, wanted)
    return str(error.value)


def test_a_second_armor_block_is_refused():
    assert refusal(DOCKER_KEY + OTHER_ARMOR) == "a second armor block after the key's armor"


def test_a_checksum_line_inside_one_block_is_refused():
    lines = armor_lines(DOCKER_KEY)
    other = armor_lines(OTHER_ARMOR)[2:-2]  # the attacker's body lines
    forged = "\n".join([*lines[:-1], *other, lines[-1]]).encode()
    assert refusal(forged) == "armor with data after its checksum line"


def test_trailing_data_after_the_armor_is_refused():
    assert refusal(DOCKER_KEY + b"trailing\n") == "data after the key's armor"


def test_a_second_key_in_a_binary_download_is_refused():
    binary = keyring.dearmor(DOCKER_KEY) + OTHER
    assert refusal(binary).startswith(f"a second public key ({v4_fingerprint(OTHER)}) after")


def test_a_bad_armor_checksum_is_refused():
    lines = armor_lines(DOCKER_KEY)
    lines[-2] = "=AAAA"
    assert refusal("\n".join(lines).encode()) == (
        "ASCII armor whose checksum does not match its data"
    )


def test_damaged_base64_is_refused():
    lines = armor_lines(DOCKER_KEY)
    lines[3] = "!" + lines[3][1:]
    assert refusal("\n".join(lines).encode()) == "damaged ASCII armor"


def test_a_truncated_armor_is_refused():
    lines = armor_lines(DOCKER_KEY)
    cut = "\n".join([*lines[:6], lines[-1]]).encode()
    assert refusal(cut) in ("a truncated OpenPGP packet", "damaged ASCII armor")


def test_a_key_with_another_fingerprint_is_refused():
    assert refusal(OTHER) == f"a key with fingerprint {v4_fingerprint(OTHER)}"


def test_a_subkey_fingerprint_is_not_the_key():
    assert refusal(DOCKER_KEY, DOCKER_SUBKEY) == f"a key with fingerprint {DOCKER_FINGERPRINT}"


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"<!DOCTYPE html>\n<html><body>Not Found</body></html>\n", "an HTML page"),
        (b"  <html>\n<body>Access denied</body></html>", "an HTML page"),
        (b"", "an empty response"),
        (b"Moved permanently\n", "18 bytes that are not an OpenPGP key"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a truncated OpenPGP packet"),
        (bytes([0x80 | (2 << 2), 3]) + b"\x04\x00\x00", "a signature where a public key must"),
        (bytes([0xC0 | 6, 0xE1]) + bytes(4), "a partial-length packet, which no key has"),
        (bytes([0x80 | (6 << 2) | 3]) + bytes(4), "an indeterminate-length packet"),
        (b"\xc6", "a truncated OpenPGP packet header"),
        (b"\xc6\xd0", "a truncated OpenPGP packet header"),
        (b"\x99\x01", "a truncated OpenPGP packet header"),
        (bytes([0xC0 | 6, 3]) + b"\x03\x00\x00", "a key of unsupported OpenPGP version 03"),
        (bytes([0xC0 | 6, 0xFF]) + (70000).to_bytes(4, "big") + b"\x04" + bytes(69999), "65535"),
        (bytes(2 << 20), "bytes, more than any public key"),
        (b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n-----END PGP PRIVATE KEY BLOCK-----\n", "kind"),
        (f"{BEGIN}\n\nmQINBFit\n".encode(), "ASCII armor without its END line"),
        ("\u00e9".encode() + b"\n" + DOCKER_KEY, "not an OpenPGP packet"),
        (DOCKER_KEY.replace(b"mQIN", "m\u00e9".encode(), 1), "bytes that are not ASCII"),
    ],
    ids=[
        "html-404",
        "html",
        "empty",
        "text",
        "jpeg",
        "signature-alone",
        "partial-length",
        "indeterminate-length",
        "header-cut",
        "length-cut",
        "old-format-cut",
        "key-version-3",
        "huge-v4-packet",
        "two-megabytes",
        "private-key-block",
        "no-end-line",
        "text-before-armor",
        "non-ascii-armor",
    ],
)
def test_what_is_not_one_key_is_refused_with_what_it_is(data, found):
    assert found in refusal(data)


@pytest.mark.parametrize(
    ("tag", "name"), [(12, "a trust packet"), (5, "a secret key"), (11, "literal data")]
)
def test_packets_that_do_not_belong_in_a_public_key_are_refused(tag, name):
    stray = bytes([0xC0 | tag, 1, 0])
    binary = keyring.dearmor(DOCKER_KEY) + stray
    assert refusal(binary) == f"{name} inside public key {DOCKER_FINGERPRINT}"


# an installed keyring, read as apt reads it -------------------------------------------------


def test_the_canonical_key_is_trusted_alone():
    assert keyring.trusted_only(DOCKER_KEY, DOCKER_FINGERPRINT).armored() == DOCKER_KEY


@pytest.mark.parametrize(
    "content",
    [
        DOCKER_KEY + OTHER_ARMOR,
        b"\n".join(
            [
                *DOCKER_KEY.strip().split(b"\n")[:-1],
                *OTHER_ARMOR.strip().split(b"\n")[2:-2],
                END.encode(),
            ]
        ),
    ],
    ids=["two-blocks", "checksum-line-inside"],
)
def test_apt_reads_every_block_so_an_extra_key_is_seen(content):
    assert keyring.primary_fingerprints(content) == [DOCKER_FINGERPRINT, v4_fingerprint(OTHER)]
    with pytest.raises(keyring.NotAKeyError, match=f"keys {DOCKER_FINGERPRINT}, "):
        keyring.trusted_only(content, DOCKER_FINGERPRINT)


def test_an_installed_binary_keyring_is_not_read_by_apt_as_asc():
    with pytest.raises(keyring.NotAKeyError, match="binary data"):
        keyring.trusted_only(keyring.dearmor(DOCKER_KEY), DOCKER_FINGERPRINT)


def test_an_installed_key_with_trailing_text_is_not_clean():
    with pytest.raises(keyring.NotAKeyError, match="data after the key's armor"):
        keyring.trusted_only(DOCKER_KEY + b"junk\n", DOCKER_FINGERPRINT)


# the legacy binary keyring ------------------------------------------------------------------


@needs_gpg
def test_docker_key_is_removed_from_a_gpg_keyring_and_the_rest_kept(gpg):
    ed, rsa = gpg.fingerprints("ed@example.org")[0], gpg.fingerprints("rsa@example.org")[0]
    docker = keyring.dearmor(DOCKER_KEY)
    ring = gpg.run("--export", "ed@example.org") + docker + gpg.run("--export", "rsa@example.org")
    assert keyring.binary_primary_fingerprints(ring) == [ed, DOCKER_FINGERPRINT, rsa]
    remaining = keyring.without_key(ring, DOCKER_FINGERPRINT)
    assert gpg.shown(remaining) == [ed, rsa]
    assert keyring.without_key(docker, DOCKER_FINGERPRINT) == b""


def test_an_unreadable_tail_of_a_legacy_keyring_is_kept_as_it_is():
    docker = keyring.dearmor(DOCKER_KEY)
    tail = b"\x00not packets"
    assert keyring.binary_primary_fingerprints(OTHER + docker + tail) == [
        v4_fingerprint(OTHER),
        DOCKER_FINGERPRINT,
    ]
    assert keyring.without_key(OTHER + docker + tail, DOCKER_FINGERPRINT) == OTHER + tail


def test_an_armored_legacy_keyring_is_left_alone_as_apt_ignores_it():
    assert keyring.binary_primary_fingerprints(DOCKER_KEY) == []


def test_armor_checksum_is_rendered_from_the_data():
    key = keyring.checked_key(DOCKER_KEY, DOCKER_FINGERPRINT)
    checksum = armor_lines(key.armored())[-2]
    assert (
        checksum == "=" + base64.b64encode(keyring.crc24(key.binary()).to_bytes(3, "big")).decode()
    )
