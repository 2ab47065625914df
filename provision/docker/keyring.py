"""OpenPGP fingerprints of a key file, computed on the controller.

The deploy reads the key bytes from the host and checks them here, so hosts need no gpg and a
key is written only after its fingerprint matched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

PUBLIC_KEY_TAGS = (6, 14)  # primary key, subkey


class NotAKeyError(ValueError):
    """The data is not an OpenPGP public key (an HTML error page, for example)."""


def dearmor(data: bytes) -> bytes:
    """The binary packets of an ASCII-armored key (binary input is returned as is)."""
    text = data.lstrip()
    if not text.startswith(b"-----BEGIN PGP"):
        if text[:1] and text[0] & 0x80:
            return data
        raise NotAKeyError("not an OpenPGP key")
    lines = text.decode("ascii", errors="replace").splitlines()
    body, in_body = [], False
    for line in lines[1:]:
        if line.startswith("-----END PGP"):
            break
        if not in_body:
            in_body = True
            if line.strip() == "" or ": " in line:  # the blank line, or an armor header
                continue
        if line.startswith("="):  # CRC-24 checksum line
            break
        body.append(line.strip())
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error as error:
        raise NotAKeyError("damaged ASCII armor") from error


def packets(data: bytes):
    """Yield ``(tag, body)`` for each OpenPGP packet (old and new formats)."""
    for tag, body, _ in spans(data):
        yield tag, body


def spans(data: bytes):
    """Yield ``(tag, body, start)`` for each packet; ``start`` is where its header begins."""
    pos = 0
    while pos < len(data):
        start, header = pos, data[pos]
        if not header & 0x80:
            raise NotAKeyError("not an OpenPGP packet stream")
        if header & 0x40:  # new format
            tag, pos = header & 0x3F, pos + 1
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224:
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255:
                length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
            else:
                raise NotAKeyError("partial-length packets do not occur in keys")
        else:  # old format
            tag, kind, pos = (header >> 2) & 0x0F, header & 0x03, pos + 1
            if kind == 3:
                raise NotAKeyError("indeterminate-length packets do not occur in keys")
            size = (1, 2, 4)[kind]
            length, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
        if pos + length > len(data):
            raise NotAKeyError("truncated OpenPGP packet")
        yield tag, data[pos : pos + length], start
        pos += length


def fingerprint(body: bytes) -> str:
    """Fingerprint of a public-key packet body (v4: SHA-1, v6: SHA-256)."""
    if body[:1] == b"\x04":
        digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body)
    elif body[:1] == b"\x06":
        digest = hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body)
    else:
        raise NotAKeyError(f"unsupported OpenPGP key version {body[:1].hex()}")
    return digest.hexdigest().upper()


def fingerprints(data: bytes, tags: tuple[int, ...] = PUBLIC_KEY_TAGS) -> list[str]:
    """Fingerprints of the primary keys and subkeys in ``data``; ``NotAKeyError`` otherwise."""
    try:
        found = [fingerprint(body) for tag, body in packets(dearmor(data)) if tag in tags]
    except IndexError:  # the data ends inside a packet header
        raise NotAKeyError("truncated OpenPGP data") from None
    if not found:
        raise NotAKeyError("no public key in the data")
    return found


def without_key(keyring: bytes, wanted: str) -> bytes:
    """A binary keyring with the key ``wanted`` (and its subkeys, ids, signatures) removed."""
    kept, dropping, last = [], False, 0
    items = list(spans(keyring))
    for index, (tag, body, start) in enumerate(items):
        end = items[index + 1][2] if index + 1 < len(items) else len(keyring)
        if tag == 6:
            dropping = fingerprint(body) == wanted
        if not dropping:
            kept.append(keyring[start:end])
        last = end
    return b"".join(kept) + keyring[last:]


def primary_fingerprints(data: bytes) -> list[str]:
    """Fingerprints of the primary keys only: the keys apt will trust."""
    return fingerprints(data, tags=(6,))


def describe(data: bytes) -> str:
    """A short human description of what was downloaded instead of a key."""
    head = data[:200].decode("utf-8", errors="replace").strip().lower()
    if head.startswith("<!doctype html") or head.startswith("<html") or "<html" in head:
        return "an HTML page"
    if not data:
        return "an empty response"
    return f"{len(data)} bytes that are not an OpenPGP key"
