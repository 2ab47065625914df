"""OpenPGP fingerprints computed on the controller, checked against gpg's own."""

from __future__ import annotations

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


class Gpg:
    """A throwaway GnuPG home with generated keys."""

    def __init__(self, home: str):
        self.env = dict(os.environ, GNUPGHOME=home)

    def run(self, *args: str) -> bytes:
        return subprocess.run(
            [GPG, "--batch", "--no-tty", *args], env=self.env, check=True, capture_output=True
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


@needs_gpg
@pytest.mark.parametrize("uid", ["ed@example.org", "rsa@example.org"])
@pytest.mark.parametrize("armor", [True, False], ids=["armored", "binary"])
def test_fingerprints_equal_gpgs(gpg, uid, armor):
    exported = gpg.run("--export", *(["--armor"] if armor else []), uid)
    assert exported.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----") == armor
    expected = gpg.fingerprints(uid)
    assert len(expected) == 2  # primary key and subkey
    assert keyring.fingerprints(exported) == expected


@needs_gpg
def test_dearmor_equals_gpgs_binary_export(gpg):
    armored = gpg.run("--export", "--armor", "rsa@example.org")
    assert keyring.dearmor(armored) == gpg.run("--export", "rsa@example.org")


@needs_gpg
def test_a_keyring_with_two_keys_lists_both(gpg):
    both = gpg.run("--export", "ed@example.org", "rsa@example.org")
    found = keyring.fingerprints(both)
    ed, rsa = gpg.fingerprints("ed@example.org"), gpg.fingerprints("rsa@example.org")
    assert found == ed + rsa
    assert keyring.primary_fingerprints(both) == [ed[0], rsa[0]]


@needs_gpg
def test_damaged_armor_is_not_a_key(gpg):
    armored = gpg.run("--export", "--armor", "ed@example.org").decode()
    lines = armored.splitlines()
    body = next(i for i, line in enumerate(lines) if line == "") + 1
    lines[body] = "!" + lines[body][1:]
    with pytest.raises(keyring.NotAKeyError, match="damaged ASCII armor"):
        keyring.fingerprints("\n".join(lines).encode())


@needs_gpg
def test_truncated_armor_is_not_a_key(gpg):
    armored = gpg.run("--export", "--armor", "rsa@example.org").decode().splitlines()
    body = next(i for i, line in enumerate(armored) if line == "") + 1
    cut = armored[: body + 3] + ["-----END PGP PUBLIC KEY BLOCK-----"]  # 3 x 48 bytes of data
    with pytest.raises(keyring.NotAKeyError, match="truncated"):
        keyring.fingerprints("\n".join(cut).encode())


def test_dockers_published_key_has_the_pinned_fingerprint():
    assert keyring.fingerprints(DOCKER_KEY) == [DOCKER_FINGERPRINT, DOCKER_SUBKEY]


def test_armor_with_headers_crlf_and_leading_blank_lines():
    text = DOCKER_KEY.decode().replace(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: Docker Release (CE deb)\n",
    )
    data = ("\n\n  " + text.replace("\n", "\r\n")).encode()
    assert keyring.fingerprints(data)[0] == DOCKER_FINGERPRINT


def test_armor_without_the_blank_line_after_the_header():
    begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
    text = DOCKER_KEY.decode()
    assert begin + "\n" in text
    no_blank = text.replace(begin + "\n", begin)
    assert keyring.dearmor(no_blank.encode()) == keyring.dearmor(DOCKER_KEY)
    assert keyring.fingerprints(no_blank.encode()) == [DOCKER_FINGERPRINT, DOCKER_SUBKEY]
    with_header = no_blank.replace(begin, begin + "Comment: Docker Release (CE deb)\n")
    assert keyring.fingerprints(with_header.encode())[0] == DOCKER_FINGERPRINT


HTML_404 = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
    b"<body><h1>Not Found</h1></body></html>\n"
)


@pytest.mark.parametrize(
    ("data", "described"),
    [
        (HTML_404, "an HTML page"),
        (b"  <html>\n<body>Access denied</body></html>", "an HTML page"),
        (b"<?xml version='1.0'?>\n<html xmlns='http://www.w3.org/1999/xhtml'/>", "an HTML page"),
        (b"", "an empty response"),
        (b"Moved permanently\n", "18 bytes that are not an OpenPGP key"),
    ],
    ids=["html-404", "html", "xhtml", "empty", "text"],
)
def test_what_is_not_a_key_is_refused_and_described(data, described):
    with pytest.raises(keyring.NotAKeyError):
        keyring.fingerprints(data)
    assert keyring.describe(data) == described


def test_a_signature_alone_has_no_public_key():
    signature = bytes([0x80 | (2 << 2) | 0, 3]) + b"\x04\x00\x00"  # tag 2, old format
    with pytest.raises(keyring.NotAKeyError, match="no public key"):
        keyring.fingerprints(signature)


def test_binary_garbage_is_not_a_key():
    with pytest.raises(keyring.NotAKeyError):
        keyring.fingerprints(b"\xff\xd8\xff\xe0\x00\x10JFIF")  # a JPEG


def test_synthetic_key_packet_fingerprint():
    packet = synthetic_key(b"seed")
    assert keyring.fingerprints(packet) == [v4_fingerprint(packet)]


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
    assert [len(b) for _, b in keyring.packets(packet)] == [size]
    assert keyring.fingerprints(packet + bytes([0xC0 | 14]) + header + body) == [expected] * 2


def test_v6_fingerprint_is_sha256():
    body = b"\x06" + bytes(40)
    expected = hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    assert keyring.fingerprint(body) == expected
    assert len(expected) == 64


def test_unsupported_key_version_is_refused():
    with pytest.raises(keyring.NotAKeyError, match="version 03"):
        keyring.fingerprint(b"\x03" + bytes(20))


def test_partial_and_indeterminate_lengths_are_refused():
    with pytest.raises(keyring.NotAKeyError, match="partial"):
        list(keyring.packets(bytes([0xC0 | 6, 0xE1]) + bytes(4)))
    with pytest.raises(keyring.NotAKeyError, match="indeterminate"):
        list(keyring.packets(bytes([0x80 | (6 << 2) | 3]) + bytes(4)))


@pytest.mark.parametrize(
    "data", [b"\xc6", b"\xc6\xd0", b"\x99\x01"], ids=["no-length", "half-length", "old-format"]
)
def test_stream_cut_in_a_header_is_not_a_key(data):
    with pytest.raises(keyring.NotAKeyError, match="truncated"):
        keyring.fingerprints(data)


def test_primary_fingerprints_leave_out_subkeys():
    assert keyring.primary_fingerprints(DOCKER_KEY) == [DOCKER_FINGERPRINT]
    two = keyring.dearmor(DOCKER_KEY) + synthetic_key(b"second")
    assert keyring.primary_fingerprints(two) == [
        DOCKER_FINGERPRINT,
        v4_fingerprint(synthetic_key(b"second")),
    ]
