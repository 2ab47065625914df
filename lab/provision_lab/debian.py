"""A tiny client of the Debian archive: signed indexes, newest versions, verified ``.deb`` files.

Everything lands in a cache directory: ``indexes/MIRROR/SUITE/ARCH/`` holds ``InRelease``,
``Packages.xz`` and ``selection.json`` (the few packages asked for, so that a warm cache answers
without parsing the index); the ``.deb`` files sit at the top. Indexes are fetched only when they
are missing or on ``refresh``; cached ``.deb`` files are reused when their SHA256 still matches.
Writes are atomic and per-suite locked, so several builders can share one cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import lzma
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from provision.docker.dpkg import compare_versions

from .errors import LabError
from .system import run

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBIAN_ARCHIVE_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# codename -> release number, as Docker's version strings spell it (``~debian.12~bookworm``)
DEBIAN_RELEASES = {"bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14"}
TIMEOUT = 60
_CHUNK = 1 << 20
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError)


@dataclass(frozen=True)
class DebianPackage:
    """One binary package of a Debian index."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int

    @property
    def basename(self) -> str:
        return self.filename.rsplit("/", 1)[-1]


# Control files


def parse_stanzas(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs as ordered dicts; continuation lines keep their leading space."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if fields:
        yield fields


def format_stanza(fields: dict[str, str]) -> str:
    """The inverse of :func:`parse_stanzas` for one paragraph."""
    return "".join(f"{key}: {value}\n" for key, value in fields.items())


def _from_stanza(fields: dict[str, str]) -> DebianPackage:
    return DebianPackage(
        name=fields["Package"],
        version=fields["Version"],
        filename=fields["Filename"],
        sha256=fields["SHA256"],
        size=int(fields["Size"]),
    )


def find_packages(index_text: str, names: Iterable[str]) -> dict[str, DebianPackage]:
    """The newest version of each named package in a ``Packages`` text."""
    wanted = set(names)
    found: dict[str, DebianPackage] = {}
    pattern = re.compile(r"^Package: (\S+)$", re.MULTILINE)
    for paragraph in index_text.split("\n\n"):
        match = pattern.match(paragraph)
        if not match or match.group(1) not in wanted:
            continue
        package = _from_stanza(next(parse_stanzas(paragraph)))
        current = found.get(package.name)
        if current is None or compare_versions(package.version, current.version) > 0:
            found[package.name] = package
    missing = wanted - found.keys()
    if missing:
        raise LabError(f"the Debian index has no package {', '.join(sorted(missing))}.")
    return found


def release_checksum(release_text: str, path: str) -> tuple[str, int]:
    """SHA256 and size of ``path`` as listed in a ``Release`` file."""
    release = next(parse_stanzas(release_text), {})
    for line in release.get("SHA256", "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == path:
            return parts[0], int(parts[1])
    raise LabError(f"the Debian Release file does not list {path}.")


def _clearsigned_body(text: str) -> str:
    """The message of a clearsigned file, without verifying it."""
    head, _, rest = text.partition("\n\n")
    body = rest.partition("\n-----BEGIN PGP SIGNATURE-----")[0] if head.startswith("---") else text
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body.split("\n"))


# Network and files


def sha256_file(path: Path) -> str:
    """Hex SHA256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unreachable(url: str, error: Exception) -> LabError:
    reason = getattr(error, "reason", None) or error
    if isinstance(error, urllib.error.HTTPError):
        reason = f"HTTP {error.code} {error.reason}"
    return LabError(f"cannot reach the Debian archive at {url}: {reason}")


def download(url: str, dest: Path) -> None:
    """Fetch ``url`` into ``dest`` atomically; network failures raise ``LabError``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as out:
        try:
            try:
                response = urllib.request.urlopen(url, timeout=TIMEOUT)
                with response:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
            except _NETWORK_ERRORS as error:
                raise _unreachable(url, error) from error
            out.flush()
            os.chmod(out.name, 0o644)
            os.replace(out.name, dest)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (threads and processes alike)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one rename: readers see the old or the new file."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as out:
        out.write(data)
    os.chmod(out.name, mode)
    os.replace(out.name, path)


# The archive


class Archive:
    """A Debian mirror seen through a local cache.

    + mirror: base URL of the Debian archive
    + cache: directory for indexes and ``.deb`` files
    + arch: Debian architecture
    + keyring: keyring that signs the archive's ``InRelease``; ``None`` skips the signature
      check (the index is still checked against the ``Release`` checksums)
    """

    def __init__(
        self,
        mirror: str,
        cache: Path,
        arch: str = "amd64",
        keyring: Path | None = DEBIAN_ARCHIVE_KEYRING,
    ) -> None:
        self.mirror = mirror.rstrip("/")
        self.cache = cache
        self.arch = arch
        self.keyring = keyring

    def _index_dir(self, suite: str) -> Path:
        parts = urllib.parse.urlsplit(self.mirror)
        slug = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{parts.netloc}{parts.path}").strip("_")
        return self.cache / "indexes" / slug / suite / self.arch

    def packages(
        self, suite: str, names: Iterable[str], refresh: bool = False
    ) -> dict[str, DebianPackage]:
        """The newest version of each named package in ``suite``'s main component.

        Answers from the cached selection when it covers ``names`` (no network, no parsing);
        parses the cached index when not; fetches the index only when it is missing or on
        ``refresh``.
        """
        names = set(names)
        directory = self._index_dir(suite)
        with locked(directory / ".lock"):
            selection = self._read_selection(directory)
            if not refresh and names <= selection["packages"].keys():
                return {name: DebianPackage(**selection["packages"][name]) for name in names}
            index = directory / "Packages.xz"
            if refresh or not index.exists():
                self._fetch_index(suite, directory)
            digest = sha256_file(index)
            known = selection["packages"] if selection["index"] == digest else {}
            text = lzma.decompress(index.read_bytes()).decode()
            found = find_packages(text, names | known.keys())
            data = {"index": digest, "packages": {n: asdict(p) for n, p in found.items()}}
            write_atomic(directory / "selection.json", json.dumps(data, indent=1).encode())
            return {name: found[name] for name in names}

    def _read_selection(self, directory: Path) -> dict:
        try:
            return json.loads((directory / "selection.json").read_text())
        except (OSError, ValueError):
            return {"index": None, "packages": {}}

    def _fetch_index(self, suite: str, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        download(f"{self.mirror}/dists/{suite}/InRelease", directory / "InRelease")
        release = self._release_text(directory / "InRelease")
        path = f"main/binary-{self.arch}/Packages.xz"
        digest, _ = release_checksum(release, path)
        index = directory / "Packages.xz"
        if index.exists() and sha256_file(index) == digest:
            return
        download(f"{self.mirror}/dists/{suite}/{path}", index)
        if sha256_file(index) != digest:
            index.unlink()
            raise LabError(
                f"the Debian index {self.mirror}/dists/{suite}/{path} does not match its "
                "Release checksum (a mirror in the middle of an update?); retry later."
            )

    def _release_text(self, inrelease: Path) -> str:
        if self.keyring is None:
            return _clearsigned_body(inrelease.read_text())
        if not self.keyring.exists():
            raise LabError(
                f"the Debian archive keyring {self.keyring} is missing; install "
                "debian-archive-keyring (or pass keyring=None to skip the signature check)."
            )
        result = run(
            ["gpgv", "--keyring", str(self.keyring.resolve()), "--output", "-", str(inrelease)],
            check=False,
        )
        if result.returncode != 0:
            inrelease.unlink(missing_ok=True)
            raise LabError(
                f"the Debian archive's InRelease for {self.mirror} is not signed by a key in "
                f"{self.keyring}; update debian-archive-keyring or check the mirror."
            )
        return result.stdout

    def fetch(self, package: DebianPackage) -> Path:
        """The package's ``.deb`` in the cache, downloaded and SHA256-checked when needed."""
        path = self.cache / package.basename
        if path.exists() and sha256_file(path) == package.sha256:
            return path
        url = f"{self.mirror}/{package.filename}"
        try:
            download(url, path)
        except LabError as error:
            if "HTTP 404" in str(error):
                raise LabError(
                    f"{error} (the cached index is out of date: rebuild with refresh=True)"
                ) from error
            raise
        if sha256_file(path) != package.sha256:
            path.unlink()
            raise LabError(f"{url} does not match the SHA256 of the Debian index; retry later.")
        return path


def release_number(codename: str) -> str:
    """Debian's release number of ``codename`` (``bookworm`` -> ``12``)."""
    try:
        return DEBIAN_RELEASES[codename]
    except KeyError:
        known = ", ".join(DEBIAN_RELEASES)
        raise LabError(f"unknown Debian suite {codename!r} (known: {known}).") from None
