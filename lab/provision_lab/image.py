"""A tiny container image for the lab, made without a registry.

:func:`build_image` writes ``dest/hello.tar``, an archive in ``docker save`` format (one layer
with Debian's static busybox and a few applet links) that ``docker load`` reads on any
engine the lab serves. Its default command prints :data:`GREETING` and exits 0. The archive is
byte-for-byte deterministic and rebuilt only when busybox or the recipe changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .debian import (
    DEBIAN_ARCHIVE_KEYRING,
    DEFAULT_MIRROR,
    Archive,
    locked,
    sha256_file,
    write_atomic,
)
from .system import run

IMAGE_RECIPE_VERSION = "1"
REFERENCE = "provision-lab/hello:latest"
GREETING = "Hello from the provision lab"
COMMAND = ("/bin/echo", GREETING)
APPLETS = ("sh", "echo", "cat", "ls", "sleep", "wget", "hostname", "id", "true")
ARCHIVE_NAME = "hello.tar"
STAMP = ".hello.stamp"
EPOCH = "1970-01-01T00:00:00Z"
# Debian architecture -> the OCI/Go name an image config uses
GO_ARCH = {"amd64": "amd64", "arm64": "arm64", "i386": "386", "ppc64el": "ppc64le"}


@dataclass(frozen=True)
class ImageInfo:
    """A ``docker load``-able archive and the reference it loads as."""

    path: Path
    reference: str

    @property
    def sha256(self) -> str:
        """The archive's SHA-256, for ``docker_verify_image_sha256``."""
        return sha256_file(self.path)


def _entry(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
    return info


def _tar(members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def layer_tar(busybox: bytes, applets: Sequence[str] = APPLETS) -> bytes:
    """The image's only layer: ``/bin/busybox``, its applet links and ``/tmp``."""
    members = [
        (_entry("bin/", tarfile.DIRTYPE, 0o755), None),
        (_entry("bin/busybox", tarfile.REGTYPE, 0o755, len(busybox)), busybox),
        *(
            (_entry(f"bin/{name}", tarfile.SYMTYPE, 0o777, link="busybox"), None)
            for name in applets
        ),
        (_entry("tmp/", tarfile.DIRTYPE, 0o1777), None),
    ]
    return _tar(members)


def image_config(diff_id: str, arch: str, command: Sequence[str], origin: str) -> bytes:
    """The image configuration JSON (its SHA256 is the image ID)."""
    config = {
        "architecture": GO_ARCH.get(arch, arch),
        "os": "linux",
        "created": EPOCH,
        "config": {"Env": ["PATH=/bin"], "Cmd": list(command), "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": EPOCH, "created_by": f"provision lab: {origin}"}],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def image_archive(
    busybox: bytes,
    reference: str = REFERENCE,
    arch: str = "amd64",
    command: Sequence[str] = COMMAND,
    origin: str = "busybox",
) -> bytes:
    """A ``docker save`` archive: ``manifest.json``, the config, and ``LAYER/layer.tar``."""
    layer = layer_tar(busybox)
    layer_id = hashlib.sha256(layer).hexdigest()
    config = image_config(f"sha256:{layer_id}", arch, command, origin)
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [
        {"Config": config_name, "RepoTags": [reference], "Layers": [f"{layer_id}/layer.tar"]}
    ]
    manifest_data = json.dumps(manifest, separators=(",", ":")).encode()
    return _tar(
        [
            (_entry(f"{layer_id}/", tarfile.DIRTYPE, 0o755), None),
            (_entry(f"{layer_id}/layer.tar", tarfile.REGTYPE, 0o644, len(layer)), layer),
            (_entry(config_name, tarfile.REGTYPE, 0o644, len(config)), config),
            (_entry("manifest.json", tarfile.REGTYPE, 0o644, len(manifest_data)), manifest_data),
        ]
    )


def _busybox(deb: Path) -> bytes:
    with tempfile.TemporaryDirectory() as tree:
        run(["dpkg-deb", "--extract", str(deb), tree])
        return (Path(tree) / "bin" / "busybox").read_bytes()


def _key(busybox_sha256: str, arch: str) -> str:
    data = [IMAGE_RECIPE_VERSION, busybox_sha256, REFERENCE, arch, list(COMMAND), list(APPLETS)]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def build_image(
    dest: Path,
    cache: Path,
    mirror: str = DEFAULT_MIRROR,
    *,
    suite: str = "bookworm",
    arch: str = "amd64",
    refresh: bool = False,
    archive_keyring: Path | None = DEBIAN_ARCHIVE_KEYRING,
) -> ImageInfo:
    """Write ``dest/hello.tar`` from ``suite``'s ``busybox-static`` unless it is current.

    + dest: directory of the archive
    + cache: Debian indexes and ``.deb`` files, shared with other lab builders
    + mirror: the Debian archive to take busybox from
    + refresh: fetch the Debian index again (otherwise the cached one is used, offline)
    + archive_keyring: keyring that verifies the Debian archive; ``None`` skips the check
    """
    archive = Archive(mirror, cache, arch, archive_keyring)
    package = archive.packages(suite, {"busybox-static"}, refresh=refresh)["busybox-static"]
    key = _key(package.sha256, arch)
    path, stamp = dest / ARCHIVE_NAME, dest / STAMP
    info = ImageInfo(path, REFERENCE)
    dest.mkdir(parents=True, exist_ok=True)
    if _is_current(path, stamp, key):
        return info
    with locked(dest / ".hello.lock"):
        if _is_current(path, stamp, key):
            return info
        busybox = _busybox(archive.fetch(package))
        data = image_archive(busybox, arch=arch, origin=f"busybox-static {package.version}")
        write_atomic(path, data)
        stamp.write_text(f"{key} {hashlib.sha256(data).hexdigest()}\n")
    return info


def _is_current(path: Path, stamp: Path, key: str) -> bool:
    try:
        recorded, digest = stamp.read_text().split()
    except (OSError, ValueError):
        return False
    return recorded == key and path.exists() and sha256_file(path) == digest
