"""Property tests of the key checks: mutated, spliced and concatenated keys are never accepted
as anything but the single pinned key, and no input raises anything but the refusal error."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.docker import keyring
from provision.docker.settings import DOCKER_FINGERPRINT

from .fakes import DOCKER_KEY, synthetic_key

PINNED = DOCKER_FINGERPRINT
BINARY = keyring.dearmor(DOCKER_KEY)
OTHER = synthetic_key(b"attacker")
OTHER_ARMOR = keyring.PublicKey(tuple(keyring.packets(OTHER))).armored()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def accepted_or_refused(data: bytes):
    """The checked key, or ``None`` when refused; any other exception fails the test."""
    try:
        return keyring.checked_key(data, PINNED)
    except keyring.NotAKeyError:
        return None


def assert_only_the_pinned_key(key: keyring.PublicKey) -> None:
    """What would be written holds the pinned key alone, as apt and the host check read it."""
    written = key.armored()
    assert key.fingerprint == PINNED
    assert [p.tag for p in key.packets].count(keyring.PRIMARY) == 1
    assert keyring.primary_fingerprints(written) == [PINNED]
    assert keyring.trusted_only(written, PINNED).binary() == key.binary()


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """``base`` with a few bytes flipped, inserted, deleted, or another key spliced in."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "splice", "line"]))
        if kind == "flip" and where < len(data):
            data[where] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 64))]
        elif kind == "splice":
            other = draw(st.sampled_from([OTHER, OTHER_ARMOR, BINARY, DOCKER_KEY]))
            data[where:where] = other
        else:
            data[where:where] = draw(st.sampled_from([b"\n=AAAA\n", b"\n\n", b"\r\n", b"-----"]))
    return bytes(data)


@FAST
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_or_the_pinned_key(data):
    key = accepted_or_refused(data)
    if key is not None:
        assert_only_the_pinned_key(key)


@FAST
@given(st.sampled_from([DOCKER_KEY, BINARY]).flatmap(mutated))
def test_a_mutated_key_is_refused_or_the_pinned_key_alone(data):
    key = accepted_or_refused(data)
    if key is not None:
        assert_only_the_pinned_key(key)


def _armor(body: bytes) -> bytes:
    lines = base64.b64encode(body).decode()
    rows = [lines[i : i + 64] for i in range(0, len(lines), 64)]
    return "\n".join([keyring.BEGIN, "", *rows, keyring.END, ""]).encode()


@FAST
@given(
    st.permutations([BINARY, OTHER]),
    st.sampled_from(["binary", "two-blocks", "one-block", "checksum-inside"]),
    st.binary(max_size=16),
)
def test_the_pinned_key_with_another_is_always_refused(order, form, filler):
    first, second = order
    if form == "binary":
        data = first + filler + second
    elif form == "two-blocks":
        data = _armor(first) + filler + _armor(second)
    elif form == "one-block":
        data = _armor(first + second)
    else:
        lines = _armor(first).decode().split("\n")
        inner = _armor(second).decode().split("\n")[2:-2]
        data = "\n".join([*lines[:-2], "=AAAA", *inner, *lines[-2:]]).encode()
    assert accepted_or_refused(data) is None


@FAST
@given(mutated(DOCKER_KEY))
def test_the_host_check_passes_only_when_apt_trusts_the_pinned_key_alone(content):
    try:
        key = keyring.trusted_only(content, PINNED)
    except keyring.NotAKeyError:
        return
    assert keyring.primary_fingerprints(content) == [PINNED]
    assert key.fingerprint == PINNED


@FAST
@given(mutated(BINARY + OTHER + BINARY))
def test_removing_a_key_from_a_legacy_keyring_never_raises(ring):
    remaining = keyring.without_key(ring, PINNED)
    assert PINNED not in keyring.binary_primary_fingerprints(remaining)


def crc24_bitwise(data: bytes) -> int:
    """RFC 9580 section 6.1's reference loop, written out independently of the code under test."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


@FAST
@given(st.binary(max_size=600))
def test_the_table_driven_crc24_is_the_rfcs_checksum(data):
    assert keyring.crc24(data) == crc24_bitwise(data)


def test_a_canonical_key_stays_canonical_and_a_mutated_one_does_not_when_checked_again():
    armored = keyring.public_key(BINARY).armored()
    assert keyring.is_canonical(armored, PINNED)
    assert keyring.is_canonical(armored, PINNED)  # answered from the cache: the same
    mutated = armored.replace(b"\n=", b"\n\n=", 1)
    assert not keyring.is_canonical(mutated, PINNED)
    assert not keyring.is_canonical(armored, "0" * 40)
