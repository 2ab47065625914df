"""Signing the repository and writing its indexes in Docker's layout."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..debian import (
    compare_versions,
    format_stanza,
)
from ..errors import LabError
from ..system import run
from .specs import COMPONENT, SIGNING_UID

# Signing


def _gpg(gnupghome: Path, *args: str) -> str:
    base = ["gpg", "--homedir", str(gnupghome), "--batch", "--no-tty", "--quiet"]
    return run([*base, "--pinentry-mode", "loopback", "--passphrase", "", *args]).stdout


def signing_key(gnupghome: Path) -> str | None:
    """Fingerprint of the lab's signing key in ``gnupghome``, if there is one."""
    if not (gnupghome / "pubring.kbx").exists():
        return None
    listing = run(
        ["gpg", "--homedir", str(gnupghome), "--batch", "--with-colons", "-k", SIGNING_UID],
        check=False,
    ).stdout
    return next(
        (line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")), None
    )


def ensure_signing_key(gnupghome: Path) -> str:
    """The signing key's fingerprint; a passphrase-less ed25519 key is made the first time."""
    gnupghome.mkdir(mode=0o700, parents=True, exist_ok=True)
    gnupghome.chmod(0o700)
    fingerprint = signing_key(gnupghome)
    if fingerprint is None:
        with _gpg_agent(gnupghome):
            _gpg(gnupghome, "--quick-gen-key", SIGNING_UID, "ed25519", "sign", "never")
        fingerprint = signing_key(gnupghome)
    if fingerprint is None:
        raise LabError(f"gpg made no signing key in {gnupghome}; remove it and retry.")
    return fingerprint


@contextlib.contextmanager
def _gpg_agent(gnupghome: Path) -> Iterator[None]:
    """Stop the gpg-agent that gpg starts for ``gnupghome`` once we are done."""
    try:
        yield
    finally:
        run(["gpgconf", "--homedir", str(gnupghome), "--kill", "gpg-agent"], check=False)


def sign_release(gnupghome: Path, fingerprint: str, directory: Path) -> None:
    """``InRelease`` (clearsigned) and ``Release.gpg`` (detached) beside ``directory/Release``."""
    release = str(directory / "Release")
    signer = ("--yes", "--local-user", fingerprint, "--digest-algo", "SHA512")
    _gpg(gnupghome, *signer, "--clearsign", "--output", str(directory / "InRelease"), release)
    _gpg(gnupghome, *signer, "--armor", "--detach-sign", "--output", release + ".gpg", release)


# Indexes


def packages_index(records: Iterable[dict[str, str]], pool: Path, prefix: str) -> str:
    """A ``Packages`` file: each control paragraph with its pool path, size and checksums."""
    paragraphs = []
    for record in sorted(records, key=functools.cmp_to_key(_record_order)):
        data = (pool / record["Filename"]).read_bytes()
        fields = {key: value for key, value in record.items() if key != "Filename"}
        description = fields.pop("Description")
        fields |= {
            "Filename": f"{prefix}/{record['Filename']}",
            "Size": str(len(data)),
            "MD5sum": hashlib.md5(data).hexdigest(),
            "SHA256": hashlib.sha256(data).hexdigest(),
            "Description": description,
        }
        paragraphs.append(format_stanza(fields))
    return "\n".join(paragraphs)


def _record_order(a: dict[str, str], b: dict[str, str]) -> int:
    names = (a["Package"] > b["Package"]) - (a["Package"] < b["Package"])
    return names or compare_versions(a["Version"], b["Version"])


def release_file(codename: str, arch: str, files: dict[str, bytes]) -> str:
    """The suite's ``Release``, with the SHA256 of each index file (paths relative to it)."""
    fields = {
        "Origin": "Docker",
        "Label": "Docker",
        "Suite": codename,
        "Codename": codename,
        "Date": time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "Architectures": arch,
        "Components": COMPONENT,
        "Description": f"Docker CE packages for Debian {codename} (provision lab stand-in)",
    }
    sums = "".join(
        f"\n {hashlib.sha256(data).hexdigest()} {len(data):>16} {path}"
        for path, data in sorted(files.items())
    )
    return format_stanza(fields) + f"SHA256:{sums}\n"


def pool_dir(repo: Path, codename: str, arch: str) -> Path:
    return repo / "dists" / codename / "pool" / COMPONENT / arch


def write_suite(repo: Path, codename: str, arch: str, records: list[dict[str, str]]) -> Path:
    """``Packages``, ``Packages.gz`` and ``Release`` of one suite; return its dists directory."""
    dists = repo / "dists" / codename
    prefix = pool_dir(repo, codename, arch).relative_to(repo).as_posix()
    packages = packages_index(records, pool_dir(repo, codename, arch), prefix).encode()
    _write_indexes(dists, codename, arch, packages)
    return dists


def _write_indexes(dists: Path, codename: str, arch: str, packages: bytes) -> None:
    """``Packages``, ``Packages.gz`` and the ``Release`` listing them, in ``dists``."""
    index = f"{COMPONENT}/binary-{arch}/Packages"
    files = {index: packages, f"{index}.gz": gzip.compress(packages, mtime=0)}
    for path, data in files.items():
        (dists / path).parent.mkdir(parents=True, exist_ok=True)
        (dists / path).write_bytes(data)
    (dists / "Release").write_text(release_file(codename, arch, files))
