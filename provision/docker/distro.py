"""Which of Docker's apt repositories fits a host, from /etc/os-release and dpkg.

Docker publishes ``{repo_url}/{ubuntu,debian,raspbian}/dists/CODENAME``; derivatives use
their base's repository.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnsupportedHostError

UBUNTU_CODENAMES = {"jammy": "22.04", "noble": "24.04", "questing": "25.10", "resolute": "26.04"}
DEBIAN_CODENAMES = {"bullseye": "11", "bookworm": "12", "trixie": "13"}
RASPBIAN_CODENAMES = {"bullseye", "bookworm", "trixie"}
UBUNTU_DERIVATIVES = {"linuxmint", "pop", "elementary", "zorin", "neon"}
ARCHITECTURES = {"amd64", "arm64", "armhf", "ppc64el", "s390x"}
REPOSITORIES = {
    "ubuntu": set(UBUNTU_CODENAMES),
    "debian": set(DEBIAN_CODENAMES),
    "raspbian": RASPBIAN_CODENAMES,
}
OVERRIDES = "set docker_distro and docker_codename to a supported pair to override"
# The tables above are hints for messages: Docker's repository itself decides (the preflight).


@dataclass(frozen=True)
class Target:
    """The repository a host installs from: ``{repo_url}/{distro}`` ``CODENAME`` for ``arch``."""

    distro: str
    codename: str
    arch: str


def parse_os_release(text: str) -> dict[str, str]:
    """Parse /etc/os-release (shell-style ``KEY=value`` lines)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("'\"")
    return values


def detect(
    host: str,
    os_release: dict[str, str],
    arch: str,
    distro: str | None = None,
    codename: str | None = None,
) -> Target:
    """Map a host to Docker's repository, or raise one sentence naming the host and the fix."""
    found = os_release.get("PRETTY_NAME") or os_release.get("ID") or "an unknown system"
    if arch not in ARCHITECTURES:
        raise UnsupportedHostError(
            f"{host}: architecture {arch or 'unknown'} has no Docker packages "
            f"(supported: {', '.join(sorted(ARCHITECTURES))}); set docker_arch if dpkg "
            "reports it wrongly."
        )
    if distro or codename:
        distro = distro or _guess_distro(os_release, arch)
        codename = codename or _guess_codename(os_release, distro)
    else:
        distro = _guess_distro(os_release, arch)
        codename = _guess_codename(os_release, distro)
    if distro not in REPOSITORIES or not codename:
        raise UnsupportedHostError(
            f"{host}: {found} ({distro or '?'} {codename or '?'}) is not a supported Docker "
            f"host; {OVERRIDES}."
        )
    return Target(distro, codename, arch)


def release_hint(target: Target) -> str:
    """What the table of known releases says of ``target``'s suite, for a refusal's sentence."""
    known = REPOSITORIES.get(target.distro, set())
    if target.codename in known:
        return ""
    return (
        f" ({target.codename} is not among the {target.distro} releases Docker is known to "
        f"publish: {', '.join(sorted(known))})"
    )


def known_example(target: Target) -> str:
    """``, such as trixie``: the newest release of ``target``'s distribution that Docker is known
    to publish, for a suite it is not known to (Debian testing); else nothing."""
    if target.codename in REPOSITORIES.get(target.distro, {target.codename}):
        return ""
    newest = list(UBUNTU_CODENAMES if target.distro == "ubuntu" else DEBIAN_CODENAMES)[-1]
    return f", such as {newest}"


def _ids(os_release: dict[str, str]) -> list[str]:
    return [os_release.get("ID", "").lower(), *os_release.get("ID_LIKE", "").lower().split()]


def _guess_distro(os_release: dict[str, str], arch: str) -> str:
    ids = _ids(os_release)
    if ids[0] == "raspbian":
        return "raspbian" if arch == "armhf" else "debian"
    if ids[0] == "ubuntu" or "ubuntu" in ids or os_release.get("UBUNTU_CODENAME"):
        return "ubuntu"
    if ids[0] == "debian" or (ids[0] in UBUNTU_DERIVATIVES and os_release.get("DEBIAN_CODENAME")):
        return "debian"  # LMDE: Linux Mint on Debian
    if ids[0] in UBUNTU_DERIVATIVES:
        return "ubuntu"
    return ""


def _guess_codename(os_release: dict[str, str], distro: str) -> str:
    if distro == "ubuntu":
        return (os_release.get("UBUNTU_CODENAME") or os_release.get("VERSION_CODENAME", "")).lower()
    codename = (os_release.get("DEBIAN_CODENAME") or os_release.get("VERSION_CODENAME", "")).lower()
    if not codename and os_release.get("VERSION_ID") in DEBIAN_CODENAMES.values():
        codename = {v: k for k, v in DEBIAN_CODENAMES.items()}[os_release["VERSION_ID"]]
    return codename
