"""What a converged Debian 12 host prints for each section of the verification probe
(``provision.verify.probe``), as sections and as the one line the probe sends back."""

from __future__ import annotations

import base64
import io
import json
import posixpath
import subprocess
import tarfile

from provision.docker import daemon
from provision.docker.layout import DAEMON_JSON, KEYRING, SOURCES, sources_text
from provision.docker.settings import DockerSettings
from provision.verify import probe
from provision.verify.probe import Section

from .fakes import BOOKWORM, DOCKER_KEY, DOCKER_VERSION, PACKAGE_VERSIONS

PLAIN = DockerSettings()


def ok(text: str) -> Section:
    return Section(0, text.encode())


def tar(files: dict[str, tuple[str, bytes | None]]) -> Section:
    """The ``files`` section: ``{path: (mode, content)}``, content None for a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, (mode, content) in files.items():
            member = tarfile.TarInfo(path.lstrip("/"))
            member.uname = member.gname = "root"
            member.mode = int(mode, 8)
            if content is None:
                member.type = tarfile.DIRTYPE
                archive.addfile(member)
            else:
                member.size = len(content)
                archive.addfile(member, io.BytesIO(content))
    return Section(0, buffer.getvalue())


def written_files(settings: DockerSettings) -> dict[str, tuple[str, bytes | None]]:
    config = daemon.daemon_config(settings, DOCKER_VERSION)
    return {
        posixpath.dirname(KEYRING): ("755", None),
        KEYRING: ("644", DOCKER_KEY),
        SOURCES: ("644", sources_text(settings, "debian", "bookworm", "amd64").encode()),
        DAEMON_JSON: ("644", daemon.daemon_json(config).encode()),
    }


def info(settings: DockerSettings, **changes) -> Section:
    config = daemon.daemon_config(settings, DOCKER_VERSION)
    answer = {
        "ServerVersion": "26.1.5",
        "LoggingDriver": config["log-driver"],
        "LiveRestoreEnabled": False,
        "RegistryConfig": {"Mirrors": [], "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"]},
        "ClientInfo": {
            "Plugins": [
                {"Name": "buildx", "Version": "v0.16.1"},
                {"Name": "compose", "Version": "v2.29.1"},
            ]
        },
        **changes,
    }
    return ok(json.dumps(answer) + "\n")


def converged(settings: DockerSettings = PLAIN) -> dict[str, Section]:
    """What a converged host prints for each section of the probe with ``settings``."""
    packages = "".join(f"{name} ii {PACKAGE_VERSIONS[name]}\n" for name in settings.docker_packages)
    units = "".join(
        f"Id={unit}\nActiveState=active\nUnitFileState=enabled\n\n"
        for unit in ("containerd.service", "docker.socket", "docker.service")
    )
    config = daemon.daemon_config(settings, DOCKER_VERSION)
    log_config = {"Type": config["log-driver"], "Config": config.get("log-opts", {})}
    hello = "\nHello from Docker!\nThis message shows that your installation works.\n"
    return {
        "os_release": ok(BOOKWORM),
        "arch": ok("amd64\n"),
        "packages": ok(packages),
        "files": tar(written_files(settings)),
        "units": ok(units),
        "group": ok(f"docker:x:998:{','.join(settings.docker_users)}\n"),
        **{f"groups:{user}": ok(f"{user} docker\n") for user in settings.docker_users},
        "socket_stat": ok("socket root docker 660\n"),
        "docker_info": info(settings),
        "world_writable": ok(""),
        "listening": ok("LISTEN 0 4096 127.0.0.54:53 0.0.0.0:*\n"),
        "container": ok(hello),
        "log_config": ok(json.dumps(log_config) + "\n"),
        **{f"rootless_groups:{user}": ok(f"{user}\n") for user in settings.docker_rootless_users},
        **{
            f"rootless_info:{user}": ok("rootless name=rootless\n")
            for user in settings.docker_rootless_users
        },
        **{f"rootless_container:{user}": ok(hello) for user in settings.docker_rootless_users},
    }


def answer(sections: dict[str, Section], settings: DockerSettings = PLAIN) -> str:
    """The probe's output for ``settings`` on a host printing ``sections``: the probe's own
    script (``probe.render``) run by ``sh``, each section's command replaced by one printing
    the section's output and ending with its exit code.

    Raises ``KeyError`` for a section of the probe that ``sections`` does not have.
    """
    stand_ins = {}
    for name in probe.commands(settings):
        section = sections[name]
        printed = base64.b64encode(section.output).decode()
        stand_ins[name] = f"echo {printed} | base64 -d; exit {section.rc}"
    script = probe.render(stand_ins)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
