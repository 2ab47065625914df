"""Section 3, daemon configuration files: owner and mode of Docker's units, configuration,
certificates, keys and sockets."""

from __future__ import annotations

from .model import Outcome, failed, not_applicable, passed
from .registry import check

CERTS_D = "/etc/docker/certs.d/"


def _ownership(paths, owner: str):
    """Each of ``paths`` belongs to ``owner`` ("user:group")."""

    def run(state):
        found = _existing(state, paths)
        if isinstance(found, Outcome):
            return found
        wrong = [f"{p} {s.owner}:{s.group}" for p, s in found if f"{s.owner}:{s.group}" != owner]
        if wrong:
            return failed(", ".join(wrong))
        return passed(", ".join(f"{p} {owner}" for p, _ in found))

    return run


def _mode(paths, most: int):
    """Each of ``paths`` has no permission bit that ``most`` lacks (644 or more restrictive)."""

    def run(state):
        found = _existing(state, paths)
        if isinstance(found, Outcome):
            return found
        wrong = [f"{p} {s.mode:o}" for p, s in found if s.mode & ~most]
        if wrong:
            return failed(", ".join(wrong))
        return passed(", ".join(f"{p} {s.mode:o}" for p, s in found))

    return run


def _existing(state, paths):
    """``[(path, Stat)]`` of the files ``paths(state)`` names that exist, or the ``Outcome``
    when none apply (``paths`` may decide that itself)."""
    wanted = paths(state)
    if isinstance(wanted, Outcome):
        return wanted
    found = [(path, state.stats[path]) for path in wanted if path in state.stats]
    return found or not_applicable(f"{' '.join(wanted)} does not exist")


def _unit(name):
    def paths(state):
        path = state.unit_paths.get(name)
        return [path] if path else not_applicable(f"systemd knows no {name}")

    return paths


def _fixed(*paths):
    return lambda state: list(paths)


def _certs_d(state):
    found = sorted(p for p, s in state.stats.items() if p.startswith(CERTS_D) and s.kind == "f")
    return found or not_applicable(f"no registry certificates in {CERTS_D}")


def _tls_file(name):
    """The file daemon option ``name`` (tlscacert, tlscert, tlskey) names, when TLS is on."""

    def paths(state):
        path = state.option(name)
        if not path:
            return not_applicable(f"{name} is not set")
        if str(path) not in state.stats:
            return failed(f"{name} names {path}, which the audit could not read")
        return [str(path)]

    return paths


def _docker_sock(state):
    return ["/run/docker.sock"]


SPECS = [
    (
        "3.1",
        "docker.service file ownership is set to root:root",
        "docker.service owner",
        _unit("docker.service"),
        "root:root",
        None,
    ),
    (
        "3.2",
        "docker.service file permissions are appropriately set",
        "docker.service mode",
        _unit("docker.service"),
        None,
        0o644,
    ),
    (
        "3.3",
        "docker.socket file ownership is set to root:root",
        "docker.socket owner",
        _unit("docker.socket"),
        "root:root",
        None,
    ),
    (
        "3.4",
        "docker.socket file permissions are set to 644 or more restrictive",
        "docker.socket mode",
        _unit("docker.socket"),
        None,
        0o644,
    ),
    (
        "3.5",
        "the /etc/docker directory ownership is set to root:root",
        "/etc/docker owner",
        _fixed("/etc/docker"),
        "root:root",
        None,
    ),
    (
        "3.6",
        "/etc/docker directory permissions are set to 755 or more restrictively",
        "/etc/docker mode",
        _fixed("/etc/docker"),
        None,
        0o755,
    ),
    (
        "3.7",
        "registry certificate file ownership is set to root:root",
        "registry certs owner",
        _certs_d,
        "root:root",
        None,
    ),
    (
        "3.8",
        "registry certificate file permissions are set to 444 or more restrictively",
        "registry certs mode",
        _certs_d,
        None,
        0o444,
    ),
    (
        "3.9",
        "TLS CA certificate file ownership is set to root:root",
        "TLS CA owner",
        _tls_file("tlscacert"),
        "root:root",
        None,
    ),
    (
        "3.10",
        "TLS CA certificate file permissions are set to 444 or more restrictively",
        "TLS CA mode",
        _tls_file("tlscacert"),
        None,
        0o444,
    ),
    (
        "3.11",
        "Docker server certificate file ownership is set to root:root",
        "TLS certificate owner",
        _tls_file("tlscert"),
        "root:root",
        None,
    ),
    (
        "3.12",
        "the Docker server certificate file permissions are set to 444 or more restrictively",
        "TLS certificate mode",
        _tls_file("tlscert"),
        None,
        0o444,
    ),
    (
        "3.13",
        "the Docker server certificate key file ownership is set to root:root",
        "TLS key owner",
        _tls_file("tlskey"),
        "root:root",
        None,
    ),
    (
        "3.14",
        "the Docker server certificate key file permissions are set to 400",
        "TLS key mode",
        _tls_file("tlskey"),
        None,
        0o400,
    ),
    (
        "3.15",
        "the Docker socket file ownership is set to root:docker",
        "docker.sock owner",
        _docker_sock,
        "root:docker",
        None,
    ),
    (
        "3.16",
        "the Docker socket file permissions are set to 660 or more restrictively",
        "docker.sock mode",
        _docker_sock,
        None,
        0o660,
    ),
    (
        "3.17",
        "the daemon.json file ownership is set to root:root",
        "daemon.json owner",
        _fixed("/etc/docker/daemon.json"),
        "root:root",
        None,
    ),
    (
        "3.18",
        "daemon.json file permissions are set to 644 or more restrictive",
        "daemon.json mode",
        _fixed("/etc/docker/daemon.json"),
        None,
        0o644,
    ),
    (
        "3.19",
        "the /etc/default/docker file ownership is set to root:root",
        "/etc/default/docker owner",
        _fixed("/etc/default/docker"),
        "root:root",
        None,
    ),
    (
        "3.20",
        "the /etc/default/docker file permissions are set to 644 or more restrictively",
        "/etc/default/docker mode",
        _fixed("/etc/default/docker"),
        None,
        0o644,
    ),
    (
        "3.21",
        "the /etc/sysconfig/docker file permissions are set to 644 or more restrictively",
        "/etc/sysconfig/docker mode",
        _fixed("/etc/sysconfig/docker"),
        None,
        0o644,
    ),
    (
        "3.22",
        "the /etc/sysconfig/docker file ownership is set to root:root",
        "/etc/sysconfig/docker owner",
        _fixed("/etc/sysconfig/docker"),
        "root:root",
        None,
    ),
    (
        "3.23",
        "the Containerd socket file ownership is set to root:root",
        "containerd.sock owner",
        _fixed("/run/containerd/containerd.sock"),
        "root:root",
        None,
    ),
    (
        "3.24",
        "the Containerd socket file permissions are set to 660 or more restrictively",
        "containerd.sock mode",
        _fixed("/run/containerd/containerd.sock"),
        None,
        0o660,
    ),
]

DEPLOY_WRITES = {"3.17", "3.18"}  # daemon.json: the deploy writes it root:root, mode 644

for id, title, name, paths, owner, mode in SPECS:
    fix = f"chown {owner}" if owner else f"chmod {mode:o} (or less)"
    fix += " the files the evidence names."
    if id in DEPLOY_WRITES:
        fix = "Apply again (the deploy writes daemon.json root:root, mode 644), or " + fix
    run = _ownership(paths, owner) if owner else _mode(paths, mode)
    check(id, f"Ensure that {title}", name, 1, fix[0].upper() + fix[1:])(run)
