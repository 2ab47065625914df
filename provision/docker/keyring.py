"""OpenPGP public keys, read and checked on the controller (hosts need no gpg).

A downloaded key is accepted only when it is exactly one transferable public key (RFC 9580
section 10.1: the primary key, its user IDs, subkeys and their signatures) whose primary
fingerprint is the pinned one. What is written to a host is that key re-armored from its checked
packets, never the downloaded bytes. An installed keyring is read the way apt reads it (every
armor block, checksum lines skipped, bodies joined), so what is checked is what apt trusts.

Every problem raises ``NotAKeyError`` with a short description of what was found.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_BYTES = 1 << 20  # Docker's key is 3.8 KiB armored; a megabyte is no public key
PRIMARY, SUBKEY, SIGNATURE, USER_ID, USER_ATTRIBUTE = 6, 14, 2, 13, 17
KEY_PARTS = {SIGNATURE, USER_ID, USER_ATTRIBUTE, SUBKEY}  # what may follow the primary key
PACKET_NAMES = {
    1: "an encrypted session key",
    2: "a signature",
    3: "a symmetric session key",
    4: "a one-pass signature",
    5: "a secret key",
    6: "a public key",
    7: "a secret subkey",
    8: "compressed data",
    9: "encrypted data",
    10: "a marker",
    11: "literal data",
    12: "a trust packet",
    13: "a user ID",
    14: "a public subkey",
    17: "a user attribute",
    18: "encrypted data",
    21: "padding",
}
BLOCK = "PGP PUBLIC KEY BLOCK"
BEGIN, END = f"-----BEGIN {BLOCK}-----", f"-----END {BLOCK}-----"
ARMOR_LINE = re.compile(r"-----(BEGIN|END) PGP [A-Z ,/0-9]*-----")
HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]*: .*")
BASE64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
CHECKSUM = re.compile(r"=([A-Za-z0-9+/]{4})")


class NotAKeyError(ValueError):
    """The data is not exactly one acceptable OpenPGP public key; the message says what it is."""


@dataclass(frozen=True)
class Packet:
    """One OpenPGP packet: its tag, its body and its bytes as read (header included)."""

    tag: int
    body: bytes
    raw: bytes


@dataclass(frozen=True)
class PublicKey:
    """One transferable public key, as checked packet by packet."""

    packets: tuple[Packet, ...]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.packets[0].body)

    @property
    def subkeys(self) -> list[str]:
        return [fingerprint(p.body) for p in self.packets if p.tag == SUBKEY]

    def binary(self) -> bytes:
        return b"".join(packet.raw for packet in self.packets)

    def armored(self) -> bytes:
        """The canonical ASCII armor: no headers, 64-column lines, the CRC-24 checksum."""
        data = self.binary()
        text = base64.b64encode(data).decode()
        lines = [text[i : i + 64] for i in range(0, len(text), 64)]
        checksum = base64.b64encode(crc24(data).to_bytes(3, "big")).decode()
        return "\n".join([BEGIN, "", *lines, f"={checksum}", END, ""]).encode()


def _crc24_step(value: int) -> int:
    """RFC 9580's bitwise loop for one byte already shifted into place."""
    for _ in range(8):
        value <<= 1
        if value & 0x1000000:
            value ^= 0x1864CFB
    return value & 0xFFFFFF


_CRC24_TABLE = [_crc24_step(byte << 16) for byte in range(256)]


def crc24(data: bytes) -> int:
    """The armor checksum of RFC 9580 section 6.1 (RFC's bitwise loop, a byte at a time)."""
    crc, table = 0xB704CE, _CRC24_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ table[(crc >> 16) ^ byte]
    return crc


def is_armored(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN PGP")


def dearmor(data: bytes) -> bytes:
    """The packets of one strict armor block of a public key (binary input is returned as is).

    Accepted: header lines, CRLF line ends, whitespace around the block. Refused: anything else
    around it (a second block, trailing data), a body line after the checksum, a wrong checksum.
    """
    if len(data) > MAX_BYTES:
        raise NotAKeyError(f"{len(data)} bytes, more than any public key ({MAX_BYTES} at most)")
    if not is_armored(data):
        if data[:1] and data[0] & 0x80:
            return data
        raise NotAKeyError(describe(data))
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise NotAKeyError("ASCII armor with bytes that are not ASCII") from None
    lines = [line.rstrip(" \t\r") for line in text.strip().split("\n")]
    if lines[0] != BEGIN:
        raise NotAKeyError(f"an armor block of another kind ({lines[0].strip('-')})")
    if END not in lines:
        raise NotAKeyError("ASCII armor without its END line")
    end = lines.index(END)
    if end != len(lines) - 1:
        second = any(ARMOR_LINE.match(line) for line in lines[end + 1 :])
        raise NotAKeyError(f"{'a second armor block' if second else 'data'} after the key's armor")
    body, checksum, index = [], None, 1
    while index < end and HEADER.fullmatch(lines[index]):
        index += 1
    for line in lines[index:end]:
        if checksum is not None:
            raise NotAKeyError("armor with data after its checksum line")
        if not line and not body:
            continue  # the blank line that ends the headers
        match = CHECKSUM.fullmatch(line)
        if match:
            checksum = match.group(1)
        elif BASE64_LINE.fullmatch(line):
            body.append(line)
        else:
            raise NotAKeyError("damaged ASCII armor")
    try:
        packets = base64.b64decode("".join(body), validate=True)
    except binascii.Error:
        raise NotAKeyError("damaged ASCII armor") from None
    if checksum is not None and base64.b64decode(checksum) != crc24(packets).to_bytes(3, "big"):
        raise NotAKeyError("ASCII armor whose checksum does not match its data")
    return packets


def apt_view(data: bytes) -> bytes:
    """The packets apt reads from a keyring file: binary as is; armor as every block's body
    joined, header and checksum lines skipped. ``NotAKeyError`` when apt could read nothing."""
    if not is_armored(data):
        if data[:1] and data[0] & 0x80:
            return data
        raise NotAKeyError("not an OpenPGP key")
    body, inside, in_headers = [], False, False
    for line in data.decode("ascii", errors="replace").split("\n"):
        line = line.strip()
        if line.startswith("-----BEGIN PGP"):
            inside, in_headers = True, True
        elif line.startswith("-----END PGP"):
            inside = False
        elif inside and in_headers and ": " in line:
            continue
        elif inside and not line.startswith("="):
            in_headers = False
            body.append(line)
    try:  # like a lenient reader, characters outside base64's alphabet are skipped
        return base64.b64decode("".join(body).encode("ascii", errors="ignore"))
    except binascii.Error:
        raise NotAKeyError("damaged ASCII armor") from None


def packets(data: bytes) -> list[Packet]:
    """Every packet of ``data`` (old and new formats); ``NotAKeyError`` on anything else."""
    return list(_walk(data))


def _walk(data: bytes) -> Iterator[Packet]:
    """Packets one by one; ``NotAKeyError`` where one cannot be read."""
    pos = 0
    while pos < len(data):
        start, header = pos, data[pos]
        if not header & 0x80:
            raise NotAKeyError("data that is not an OpenPGP packet")
        if header & 0x40:  # new format
            tag, first = header & 0x3F, _byte(data, pos + 1)
            if first < 192:
                length, pos = first, pos + 2
            elif first < 224:
                length, pos = ((first - 192) << 8) + _byte(data, pos + 2) + 192, pos + 3
            elif first == 255:
                length, pos = int.from_bytes(_bytes(data, pos + 2, 4), "big"), pos + 6
            else:
                raise NotAKeyError("a partial-length packet, which no key has")
        else:  # old format
            tag, kind = (header >> 2) & 0x0F, header & 0x03
            if kind == 3:
                raise NotAKeyError("an indeterminate-length packet, which no key has")
            size = (1, 2, 4)[kind]
            length, pos = int.from_bytes(_bytes(data, pos + 1, size), "big"), pos + 1 + size
        if pos + length > len(data):
            raise NotAKeyError("a truncated OpenPGP packet")
        yield Packet(tag, data[pos : pos + length], data[start : pos + length])
        pos += length


def _byte(data: bytes, pos: int) -> int:
    if pos >= len(data):
        raise NotAKeyError("a truncated OpenPGP packet header")
    return data[pos]


def _bytes(data: bytes, pos: int, size: int) -> bytes:
    if pos + size > len(data):
        raise NotAKeyError("a truncated OpenPGP packet header")
    return data[pos : pos + size]


def fingerprint(body: bytes) -> str:
    """Fingerprint of a public-key packet body (v4: SHA-1, v6: SHA-256)."""
    if body[:1] == b"\x04":
        if len(body) > 0xFFFF:
            raise NotAKeyError("a v4 key packet longer than 65535 bytes")
        digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body)
    elif body[:1] == b"\x06":
        digest = hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body)
    else:
        raise NotAKeyError(f"a key of unsupported OpenPGP version {body[:1].hex() or 'none'}")
    return digest.hexdigest().upper()


def public_key(stream: bytes) -> PublicKey:
    """The one transferable public key that ``stream`` (binary packets) is."""
    found = packets(stream)
    if not found:
        raise NotAKeyError("no OpenPGP packets")
    if found[0].tag != PRIMARY:
        raise NotAKeyError(f"{_name(found[0].tag)} where a public key must begin")
    primary = fingerprint(found[0].body)
    for packet in found[1:]:
        if packet.tag == PRIMARY:
            raise NotAKeyError(f"a second public key ({fingerprint(packet.body)}) after {primary}")
        if packet.tag not in KEY_PARTS:
            raise NotAKeyError(f"{_name(packet.tag)} inside public key {primary}")
        if packet.tag == SUBKEY:
            fingerprint(packet.body)
    return PublicKey(tuple(found))


def _name(tag: int) -> str:
    return PACKET_NAMES.get(tag, f"an OpenPGP packet of type {tag}")


def checked_key(data: bytes, wanted: str) -> PublicKey:
    """The key in a download if it is exactly one public key whose fingerprint is ``wanted``."""
    key = public_key(dearmor(data))
    if key.fingerprint != wanted:
        raise NotAKeyError(f"a key with fingerprint {key.fingerprint}")
    return key


def primary_fingerprints(data: bytes) -> list[str]:
    """Fingerprints of the primary keys apt finds in a keyring file, in order."""
    return [fingerprint(p.body) for p in packets(apt_view(data)) if p.tag == PRIMARY]


def trusted_only(content: bytes, wanted: str) -> PublicKey:
    """The key of an installed keyring file through which apt trusts exactly ``wanted``.

    apt's reading must find ``wanted`` and no other primary key, and the file must be one
    clean armor block of that key alone, so that every reader sees the same packets.
    """
    if not is_armored(content):
        raise NotAKeyError("binary data, which apt does not read from an .asc keyring")
    trusted = primary_fingerprints(content)
    if trusted != [wanted]:
        raise NotAKeyError(f"keys {', '.join(trusted)}" if trusted else "no public key")
    return public_key(dearmor(content))


@functools.lru_cache(maxsize=16)  # a fleet's hosts hold the same few keys
def is_canonical(content: bytes, wanted: str) -> bool:
    """Whether ``content`` is exactly the canonical armor of the one key ``wanted``."""
    try:
        return trusted_only(content, wanted).armored() == content
    except NotAKeyError:
        return False


def without_key(keyring: bytes, wanted: str) -> bytes:
    """A binary keyring with the key ``wanted`` (and its subkeys, ids, signatures) removed.

    Packets are walked as far as they can be read; what follows an unreadable point is kept
    as it is (apt's gpgv stops reading there too).
    """
    kept, dropping, pos = [], False, 0
    for packet in _readable(keyring):
        if packet.tag == PRIMARY:
            dropping = _fingerprint_or_none(packet.body) == wanted
        if not dropping:
            kept.append(packet.raw)
        pos += len(packet.raw)
    return b"".join(kept) + keyring[pos:]


def binary_primary_fingerprints(keyring: bytes) -> list[str]:
    """Primary keys of a binary keyring (``trusted.gpg``), as far as its packets can be read."""
    if is_armored(keyring):
        return []  # apt ignores an armored trusted.gpg
    return [
        fpr
        for packet in _readable(keyring)
        if packet.tag == PRIMARY and (fpr := _fingerprint_or_none(packet.body))
    ]


def _readable(keyring: bytes) -> list[Packet]:
    """The packets of ``keyring`` up to the first one that cannot be read."""
    found = []
    try:
        for packet in _walk(keyring):
            found.append(packet)
    except NotAKeyError:
        pass
    return found


def _fingerprint_or_none(body: bytes) -> str | None:
    try:
        return fingerprint(body)
    except NotAKeyError:
        return None


def describe(data: bytes) -> str:
    """A short human description of what was downloaded instead of a key."""
    head = data[:200].decode("utf-8", errors="replace").strip().lower()
    if head.startswith("<!doctype html") or head.startswith("<html") or "<html" in head:
        return "an HTML page"
    if not data:
        return "an empty response"
    return f"{len(data)} bytes that are not an OpenPGP key"
