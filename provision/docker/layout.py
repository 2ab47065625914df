"""Where Docker's apt setup lives on a host, and what the sources file says (no pyinfra needed)."""

from __future__ import annotations

from dataclasses import dataclass

from .distro import REPOSITORIES
from .logins import AUTH_DIR, auth_conf, without_login
from .settings import CHANNELS, DOCKER_UPSTREAM, DockerSettings

KEYRING = "/etc/apt/keyrings/docker.asc"
SOURCES = "/etc/apt/sources.list.d/docker.sources"
DAEMON_JSON = "/etc/docker/daemon.json"
PROXY_DROPIN = "/etc/systemd/system/docker.service.d/http-proxy.conf"
APT_PROXY = "/etc/apt/apt.conf.d/95provision-proxy"
APT_PROXY_LOGIN = f"{AUTH_DIR}/provision-proxy.conf"
DOCKER_LOGIN = f"{AUTH_DIR}/docker.conf"
LEGACY_KEYRING = "/etc/apt/trusted.gpg"
AUDIT_RULES = "/etc/audit/rules.d/docker.rules"
DEFAULT_DATA_ROOT = "/var/lib/docker"
# the files the Docker deploy writes with settings in them, as the checks read them back (the
# repository's login, a secret, is checked by the deploy alone)
WRITTEN_FILES = (
    KEYRING,
    SOURCES,
    DAEMON_JSON,
    PROXY_DROPIN,
    APT_PROXY,
    APT_PROXY_LOGIN,
    AUDIT_RULES,
)


@dataclass(frozen=True)
class PinnedRepository:
    """An apt repository, the key that signs it, and where both go on the host."""

    label: str  # "Docker": names the operations
    uri: str
    suite: str
    components: str
    arch: str
    key_url: str
    fingerprint: str
    key_path: str
    sources_path: str
    channels: tuple[str, ...] = ()  # every component it serves (default: ``components``)
    mirror_uris: tuple[str, ...] = ()  # its URIs for other distributions (default: ``uri``)
    login_path: str = ""  # apt's auth.conf.d file for its login, if it may have one
    login: str | None = None  # that file's content (``None``: no login, no file)

    def sources(self) -> str:
        """The deb822 sources file, naming the key in ``Signed-By``."""
        return self.entry() + f"Signed-By: {self.key_path}\n"

    def entry(self) -> str:
        """The deb822 sources without ``Signed-By`` (a preflight names its own key)."""
        return (
            "Types: deb\n"
            f"URIs: {self.uri}\n"
            f"Suites: {self.suite}\n"
            f"Components: {self.components}\n"
            f"Architectures: {self.arch}\n"
        )


def docker_repository(
    settings: DockerSettings, distro: str, codename: str, arch: str
) -> PinnedRepository:
    """Docker's repository for a host, as Docker's install guide sets it up."""
    uri = f"{settings.docker_repo_url}/{distro}"
    return PinnedRepository(
        label="Docker",
        uri=without_login(uri),
        suite=codename,
        components=settings.docker_channel,
        arch=arch,
        key_url=settings.key_url(distro),
        fingerprint=settings.docker_gpg_fingerprint,
        key_path=KEYRING,
        sources_path=SOURCES,
        channels=CHANNELS,
        mirror_uris=tuple(
            dict.fromkeys(  # a mirror's, and Docker's own: neither may stay beside docker.sources
                without_login(f"{base}/{name}")
                for base in (settings.docker_repo_url, DOCKER_UPSTREAM)
                for name in REPOSITORIES
            )
        ),
        login_path=DOCKER_LOGIN,
        login=auth_conf(uri),
    )


def sources_text(settings: DockerSettings, distro: str, codename: str, arch: str) -> str:
    """The deb822 ``docker.sources`` of Docker's install guide."""
    return docker_repository(settings, distro, codename, arch).sources()


def apt_names(uri: str) -> tuple[str, ...]:
    """How apt's messages name a repository at ``uri`` (apt writes ``file:///x`` as ``file:/x``)."""
    return tuple(dict.fromkeys((uri, uri.replace("file:///", "file:/", 1))))
