"""The preflight: before the first change on a host, read Docker's repository the way apt will.

The host runs ``apt-get update`` for Docker's repository alone (same URL, apt's own proxy
configuration, the checked key) in a throwaway apt state under a temporary directory, then
``apt-cache madison`` lists what the repository offers. Nothing of the host's apt state or
configuration is written. The deploy goes ahead only when the suite exists for the host's
architecture and every package the run installs is there at the version it will install.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import DeployError, FactBase

from provision.core.snapshot import fresh, read

from . import keyring
from .daemon import apt_proxy_conf, apt_proxy_login
from .distro import Target, known_example, release_hint
from .dpkg import newest_match, version_matches
from .facts import SCRATCH_OPTIONS, FileContent, Packages, rm_scratch, scratch_apt, scratch_input
from .files import stdin_line, writer
from .layout import KEYRING, PinnedRepository, apt_names, docker_repository
from .operations import fetched_key
from .rootless import EXTRAS
from .settings import DockerSettings

MARK = "=====provision-preflight-"
APT_OPTIONS = (  # the temporary state ("$t"): Docker's sources only, their lists and cache
    "Dir::Etc::SourceList=$t/none",
    "Dir::Etc::SourceParts=$t/sources.list.d",
    "Dir::State::Lists=$t/lists",
    "Dir::Cache=$t/cache",
)


@dataclass(frozen=True)
class Offer:
    """What ``apt-get update`` said (exit status, its lines) and the versions apt then sees."""

    status: int
    update: tuple[str, ...]
    versions: dict[str, list[str]] = field(default_factory=dict)

    def problems(self, uri: str) -> list[str]:
        """apt's warnings and errors about the repository at ``uri``, in apt's words.

        apt names a repository by its URI (``Err:1 URI suite InRelease``, ``W: GPG error: URI
        ...``, ``E: The repository 'URI suite Release' ...``); a failed update that names none
        is reported whole.
        """
        names = apt_names(uri)
        found = [
            line.strip()
            for line in self.update
            if line.startswith(("W:", "E:")) and any(name in line for name in names)
        ]
        if not found and self.status != 0:
            found = [line.strip() for line in self.update if line.startswith(("W:", "E:"))]
        return found or ([f"apt-get update exited {self.status}"] if self.status else [])

    def lacks_suite(self, uri: str) -> bool:
        """apt found no Release file for the suite at ``uri``: the repository has no such suite."""
        names = apt_names(uri)
        return any(
            line.startswith("E:")
            and "does not have a Release file" in line
            and any(name in line for name in names)
            for line in self.update
        )


def _sub(command: str) -> str:
    return f"echo '{MARK}{command}'"


class RepositoryOffer(FactBase):
    """What Docker's repository offers this host, read by apt in a throwaway state.

    + sources: the deb822 sources without ``Signed-By`` (the temporary key is named)
    + packages: the packages whose versions to list

    Standard input (``offer_input``) carries apt's configuration and logins
    (``facts.scratch_input``), then the checked, armored signing key and the sources.
    """

    def command(self, sources: str, packages) -> str:
        options = f"{SCRATCH_OPTIONS} " + " ".join(f'-o "{option}"' for option in APT_OPTIONS)
        names = " ".join(shlex.quote(name) for name in packages)
        return (
            f"if {scratch_apt()} && "
            "mkdir -p sources.list.d lists/partial cache/archives/partial && "
            f"{writer('docker.asc', '0644')} && "
            f"{writer('sources.list.d/docker.sources', '0644')} && "
            "printf 'Signed-By: %s/docker.asc\\n' \"$t\" >> sources.list.d/docker.sources; then "
            f"{_sub('update')}; LC_ALL=C apt-get -q {options} update 2>&1 < /dev/null; "
            f's=$?; {_sub("status")}; echo "$s"; '
            f"{_sub('madison')}; LC_ALL=C apt-cache {options} madison {names} 2>/dev/null; "
            f"fi; {rm_scratch()}; true"
        )

    def process(self, output: list[str]) -> Offer | None:
        sections: dict[str, list[str]] = {}
        current = None
        for line in output:
            if line.startswith(MARK):
                current = line[len(MARK) :]
                sections[current] = []
            elif current is not None:
                sections[current].append(line)
        status = "".join(sections.get("status", [])).strip()
        if "madison" not in sections or not status.isdigit():
            return None
        versions: dict[str, list[str]] = {}
        for line in sections["madison"]:
            parts = [part.strip() for part in line.split("|")]
            if len(parts) >= 3 and parts[0] and parts[1]:
                versions.setdefault(parts[0], []).append(parts[1])
        return Offer(int(status), tuple(sections.get("update", [])), versions)

    @staticmethod
    def default() -> None:
        return None


def missing_packages(offer: Offer, wanted: dict[str, str | None]) -> dict[str, str | None]:
    """The packages of ``wanted`` (name -> pinned version or ``None``) the offer lacks."""
    return {
        name: version
        for name, version in wanted.items()
        if not offer.versions.get(name)
        or (version is not None and newest_match(offer.versions[name], version) is None)
    }


def describe_missing(missing: dict[str, str | None], offer: Offer) -> str:
    """``docker-ce, containerd.io 1.7 (it has 1.6.9-1)`` for packages (and pinned versions) the
    repository lacks."""
    words = []
    for name, pin in missing.items():
        has = offer.versions.get(name)
        words.append(
            name
            if pin is None
            else f"{name} {pin}" + (f" (it has {', '.join(has)})" if has else "")
        )
    return ", ".join(words)


def to_install(settings: DockerSettings) -> dict[str, str | None]:
    """The packages this run installs (name -> pinned version or ``None``): those missing, or
    installed at a version their pin does not match. Empty on a converged host."""
    pins = settings.pins()
    names = list(settings.docker_packages)
    state = read(Packages, packages=names)
    if settings.docker_rootless_users and EXTRAS not in names:  # installed with the engine's pin
        names.append(EXTRAS)
        state = {**state, **read(Packages, packages=[EXTRAS])}
        pins.setdefault(EXTRAS, settings.docker_version)
    return {
        name: pins.get(name)
        for name in names
        if name not in state
        or not state[name].installed
        or (pins.get(name) and not version_matches(state[name].version, pins[name]))
    }


def check_repository(settings: DockerSettings, target: Target) -> str:
    """Raise a ``DeployError`` (one sentence naming the host) before any change unless Docker's
    repository offers every package this run installs; nothing is read on a converged host.
    What it found, in words."""
    wanted = to_install(settings)
    if not wanted:
        return "Docker's packages are installed as wanted: nothing to read from the repository"
    repository = docker_repository(settings, target.distro, target.codename, target.arch)
    where = f"Docker's repository {repository.uri} {target.codename} for {target.arch}"
    key = _key(settings, repository)
    sources = repository.entry()
    offer = fresh(
        RepositoryOffer,
        sources=sources,
        packages=list(wanted),
        _stdin=scratch_input(
            apt_proxy_conf(settings), (apt_proxy_login(settings) or "") + (repository.login or "")
        )
        + stdin_line(key)
        + stdin_line(sources.encode()),
    )
    if offer is None:
        raise DeployError(
            f"{host.name}: could not read {where} (no answer from apt); nothing was changed."
        )
    problems = offer.problems(repository.uri)
    if offer.lacks_suite(repository.uri):
        raise DeployError(
            f"{host.name}: Docker's repository {repository.uri} has no suite {target.codename} "
            f"for {target.arch}: apt finds no Release file{release_hint(target)}; set "
            f"docker_codename to a suite it has{known_example(target)}, or docker_repo_url to a "
            f"repository that has {target.codename}; nothing was changed."
        )
    if problems:
        raise DeployError(
            f"{host.name}: apt cannot use {where}: {' '.join(problems)} "
            f"(docker_codename chooses another suite{release_hint(target)}); nothing was changed."
        )
    missing = missing_packages(offer, wanted)
    if missing:
        raise DeployError(
            f"{host.name}: {where} lacks {describe_missing(missing, offer)}"
            f"{release_hint(target)}; set docker_codename to a suite that has "
            "them, or the version settings to versions it has; nothing was changed."
        )
    return f"{where} offers {', '.join(wanted)}"


def _key(settings: DockerSettings, repository: PinnedRepository) -> bytes:
    """The repository's key as apt will trust it: the installed one if it is the pinned key,
    else the download, checked as ``signing_key`` checks it."""
    current = read(FileContent, path=KEYRING)
    if current and keyring.is_canonical(current.content, repository.fingerprint):
        return current.content
    key, error = fetched_key(repository.key_url, repository.fingerprint, settings.apt_proxy)
    if key is None:
        raise DeployError(error)
    return key
