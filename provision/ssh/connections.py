"""fabric connections made from pyinfra host data, checking host keys the way pyinfra does.

``ssh_hostname``, ``ssh_user``, ``ssh_port``, ``ssh_key``, ``ssh_key_password``,
``ssh_config_file`` (``ProxyJump`` and friends), ``ssh_connect_timeout``,
``ssh_known_hosts_file`` and ``ssh_strict_host_key_checking`` mean what they mean to pyinfra.
Host keys are read from the host's known_hosts file and a key that differs is always refused.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

import paramiko
from fabric import Config, Connection
from pyinfra.api.host import Host

from provision.core.compat import invoke_threads_on_gevent

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


def known_hosts_file(host: Host) -> Path:
    """The known_hosts file ``host``'s keys are checked against (pyinfra's default too)."""
    return Path(os.path.expanduser(host.data.get("ssh_known_hosts_file") or DEFAULT_KNOWN_HOSTS))


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a public key (``ssh-keygen -l``)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class RecordNewKeys(paramiko.MissingHostKeyPolicy):
    """Trust on first use: accept a host key seen for the first time and append it to
    ``path``; ``recorded`` keeps ``{host name: (key type, fingerprint)}`` to tell the user.

    With ``defer``, a new key is only ``seen`` until ``commit()`` (called after a successful
    login) records it, so a host whose login fails leaves nothing behind."""

    _write = threading.Lock()

    def __init__(self, path: Path, names: dict[str, str] | None = None, defer: bool = False):
        self.path, self.names, self.defer = path, names or {}, defer
        self.seen: dict[str, tuple[str, str]] = {}
        self.recorded: dict[str, tuple[str, str]] = {}
        self._pending: dict[str, str] = {}

    def missing_host_key(self, client, hostname, key) -> None:
        entry = self.names.get(hostname, hostname)
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.seen[entry.split(",")[0]] = (key.get_name(), fingerprint(key))
        self._pending[entry] = f"{entry} {key.get_name()} {key.get_base64()}\n"
        if not self.defer:
            self.commit()

    def commit(self) -> None:
        """Append the keys seen since the last commit to ``path``."""
        with self._write:
            if self._pending:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as file:
                    file.writelines(self._pending.values())
            for entry in self._pending:
                name = entry.split(",")[0]
                self.recorded[name] = self.seen[name]
            self._pending.clear()


def connection(
    host: Host,
    user: str | None = None,
    password: str | None = None,
    policy: paramiko.MissingHostKeyPolicy | None = None,
    cls: type[Connection] = Connection,
) -> Connection:
    """A fabric ``Connection`` to ``host`` as its ``ssh_user`` (or ``user``, e.g. with a
    ``password``); host keys checked against its known_hosts file (``policy`` for new ones)."""
    invoke_threads_on_gevent()
    data = host.data
    ssh_config = data.get("ssh_config_file")
    config = Config(runtime_ssh_path=os.path.expanduser(ssh_config)) if ssh_config else Config()
    kwargs: dict = {}
    if data.get("ssh_key"):
        kwargs["key_filename"] = os.path.expanduser(data.get("ssh_key"))
    if data.get("ssh_key_password"):
        kwargs["passphrase"] = data.get("ssh_key_password")
    if password is not None:
        kwargs.update(password=password, look_for_keys=False, allow_agent=False)
        kwargs.pop("key_filename", None)
    conn = cls(
        data.get("ssh_hostname") or host.name,
        user=user or data.get("ssh_user"),
        port=data.get("ssh_port"),
        config=config,
        connect_timeout=int(data.get("ssh_connect_timeout") or 10),
        connect_kwargs=kwargs,
    )
    known = known_hosts_file(host)
    if known.is_file():
        conn.client.load_host_keys(str(known))
    conn.client.set_missing_host_key_policy(policy or _policy(host, known))
    return conn


def _policy(host: Host, known: Path) -> paramiko.MissingHostKeyPolicy:
    checking = str(host.data.get("ssh_strict_host_key_checking") or "yes").lower()
    if checking in ("yes", "true"):
        return paramiko.RejectPolicy()
    if checking == "accept-new":
        return RecordNewKeys(known)
    return paramiko.WarningPolicy()


def connect_error(name: str, error: BaseException, known: Path | None = None) -> str:
    """One sentence for an SSH failure, naming the host and what to do."""
    if isinstance(error, paramiko.BadHostKeyException):
        return (
            f"{name}: its host key ({fingerprint(error.key)}) is not the one recorded in "
            f"{known or 'known_hosts'} ({fingerprint(error.expected_key)}); nothing was done. "
            "If the host was rebuilt, remove the old key with `ssh-keygen -R`."
        )
    if isinstance(error, paramiko.AuthenticationException):
        return f"{name}: SSH authentication failed ({error}); check the user, key or password."
    if isinstance(error, paramiko.SSHException) and "known_hosts" in str(error):
        return (
            f"{name}: its host key is not in {known or 'known_hosts'}; record it with "
            "`provision bootstrap` (trust on first use) or `ssh-keyscan`, after checking it."
        )
    detail = str(error) or type(error).__name__
    return f"{name}: cannot connect over SSH ({detail}); check the address, port and network."
