"""``provision bootstrap``: first contact with fresh hosts, over fabric.

A fresh host lets in only its image's default user (``ubuntu``, ``admin``...) or root with a
password. Bootstrap logs in as that user and makes the inventory's deploy user (``ssh_user``):
the account, its authorized key (the public half of ``ssh_key``) and passwordless sudo through
a drop-in checked with ``visudo -c`` before it is moved into place. It then logs in as the
deploy user to prove key and sudo work, and only then, if asked, turns password logins off
(a drop-in checked with ``sshd -t`` before sshd reloads; a failing check puts the old file
back). Every step checks first and changes only what differs, so a second run changes nothing.

Host keys: a key already in the inventory's known_hosts file must match. A host seen for the
first time is trusted on first use: its fingerprint is printed, to be checked against the
host's console, and its key is recorded there once a login has succeeded (a failed login
shows the fingerprint and records nothing).
"""

from __future__ import annotations

import os
import re
import shlex
import threading
from dataclasses import dataclass, field

import paramiko
from pyinfra.api.host import Host

from provision.core import interrupt, redact
from provision.core.errors import UsageError
from provision.ssh.connections import RecordNewKeys, connect_error, connection, known_hosts_file

from .inventory import Fleet

USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
SUDOERS_DIR = "/etc/sudoers.d"
SSHD_DROP_IN = "/etc/ssh/sshd_config.d/00-provision.conf"

# $1 deploy user, $2 its public key line. Prints "changed WHAT" per change.
ACCOUNT = """\
set -eu
user=$1 key=$2
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash -- "$user"
  echo "changed user $user created"
fi
group=$(id -gn "$user")
home=$(getent passwd "$user" | cut -d: -f6)
if [ ! -d "$home/.ssh" ]; then
  install -d -m 700 -o "$user" -g "$group" "$home/.ssh"
  echo "changed $home/.ssh created"
fi
keys="$home/.ssh/authorized_keys"
if ! { [ -f "$keys" ] && grep -qxF -- "$key" "$keys"; }; then
  printf '%s\\n' "$key" >>"$keys"
  chown "$user:$group" "$keys"
  chmod 600 "$keys"
  echo "changed key authorized for $user"
fi
rule="$user ALL=(ALL:ALL) NOPASSWD: ALL"
target="/etc/sudoers.d/provision-$user"
if [ "$(cat "$target" 2>/dev/null)" != "$rule" ]; then
  tmp=$(mktemp /etc/sudoers.d/.provision.XXXXXX)
  printf '%s\\n' "$rule" >"$tmp"
  chmod 0440 "$tmp"
  if ! visudo -c -q -f "$tmp" >&2; then
    rm -f "$tmp"
    echo "error the sudoers drop-in for $user does not pass visudo -c; nothing was installed"
    exit 3
  fi
  mv -f "$tmp" "$target"
  echo "changed passwordless sudo for $user in $target"
fi
"""

# $1 the drop-in's path. Password and keyboard-interactive logins off, root by key only.
KEY_LOGINS_ONLY = """\
set -eu
conf=$1
want='# provision bootstrap: logins by key only
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password'
grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\\.d/' /etc/ssh/sshd_config || {
  echo "error /etc/ssh/sshd_config does not include sshd_config.d; turn password logins off there"
  exit 3
}
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  old=""
  if [ -e "$conf" ]; then old=$(mktemp); cp -p "$conf" "$old"; fi
  printf '%s\\n' "$want" >"$conf.new"
  chmod 644 "$conf.new"
  mv -f "$conf.new" "$conf"
  if ! sshd -t >&2; then
    if [ -n "$old" ]; then mv -f "$old" "$conf"; else rm -f "$conf"; fi
    echo "error sshd -t rejects the configuration with $conf; the old configuration was kept"
    exit 3
  fi
  [ -z "$old" ] || rm -f "$old"
  systemctl try-reload-or-restart ssh.service
  echo "changed password logins turned off ($conf)"
fi
sshd -T | grep -qix 'passwordauthentication no' || {
  echo "error password logins stay on: a file sshd reads before $conf turns them on"
  exit 3
}
"""


@dataclass
class BootstrapResult:
    """First contact with one host."""

    # "recorded KEYTYPE SHA256:..." on first contact, "new KEYTYPE SHA256:..., not recorded"
    # when that login failed, "known" when it matched known_hosts, "-" when none was confirmed
    host_key: str = "-"
    changes: list[str] = field(default_factory=list)
    error: str | None = None
    interrupted: bool = False  # the run was stopped before this host finished

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "failed" if self.error else ("changed" if self.changes else "unchanged")

    def as_dict(self) -> dict:
        said = {key: value for key, value in self.__dict__.items() if key != "interrupted"}
        return {"status": self.status, **said}


@dataclass
class FleetBootstrap:
    """First contact with every selected host."""

    initial_user: str
    hosts: dict[str, BootstrapResult]
    key_logins_only: bool = False
    interrupted: str | None = None  # the signal that stopped the run (SIGINT, SIGTERM)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status != "failed" for r in self.hosts.values())

    def as_dict(self) -> dict:
        return {
            "command": "bootstrap",
            "initial_user": self.initial_user,
            "key_logins_only": self.key_logins_only,
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            "hosts": {name: result.as_dict() for name, result in self.hosts.items()},
        }


def public_key(host: Host) -> str:
    """The public half of ``host``'s ``ssh_key`` as an authorized_keys line."""
    path = os.path.expanduser(host.data.get("ssh_key"))
    if os.path.isfile(path + ".pub"):
        return open(path + ".pub").read().strip()
    key = paramiko.PKey.from_path(path, passphrase=host.data.get("ssh_key_password"))
    return f"{key.get_name()} {key.get_base64()}"


def check(fleet: Fleet, password_env: str | None) -> dict[str, str]:
    """Each host's deploy key; every problem of every host at once (exit 2, nothing touched)."""
    problems, keys = [], {}
    if password_env is not None and not os.environ.get(password_env):
        problems.append(f"--password-env {password_env}: that environment variable is not set.")
    for host in fleet.hosts:
        user, key = host.data.get("ssh_user"), host.data.get("ssh_key")
        if not user or not USER_NAME.fullmatch(str(user)) or user == "root":
            problems.append(
                f"host {host.name}: ssh_user {user!r} cannot be the deploy user; set ssh_user "
                "to a user name such as deploy (lower case letters, digits, _ and -; not root)."
            )
        if not key:
            problems.append(f"host {host.name}: no ssh_key; set it to the deploy user's key.")
            continue
        try:
            keys[host.name] = public_key(host)
        except (OSError, paramiko.SSHException) as error:
            problems.append(f"host {host.name}: cannot read ssh_key {key} ({error}); fix it.")
    if problems:
        raise UsageError(f"{fleet.path}: " + " ".join(problems))
    return keys


def bootstrap(
    fleet: Fleet,
    initial_user: str,
    password_env: str | None = None,
    key_logins_only: bool = False,
) -> FleetBootstrap:
    """First contact with every selected host at once; see the module's description."""
    keys = check(fleet, password_env)
    password = os.environ.get(password_env) if password_env else None
    redact.remember({"password": password})
    hosts = {host.name: host for host in fleet.hosts}
    opened = _Opened()

    def one(name: str) -> BootstrapResult:
        host = hosts[name]
        return _bootstrap_host(host, keys[name], initial_user, password, key_logins_only, opened)

    done, stopped = interrupt.each(one, list(hosts), len(hosts))
    if stopped:  # Ctrl-C or SIGTERM: the hosts in flight stop where they are
        opened.close_all()
    results = {
        name: done.get(name)
        or BootstrapResult(
            error=f"{name}: interrupted by {stopped} before it finished.", interrupted=True
        )
        for name in hosts
    }
    return FleetBootstrap(initial_user, results, key_logins_only, stopped)


class _Opened:
    """The run's connections, closed at once when it is interrupted (no new one opens then)."""

    def __init__(self) -> None:
        self._connections: list = []
        self._closed = False
        self._lock = threading.Lock()

    def connection(self, host: Host, **options):
        """``connections.connection(host, **options)``, closed by ``close_all``."""
        conn = connection(host, **options)
        with self._lock:
            if self._closed:
                raise ConnectionAbortedError("the run was interrupted")
            self._connections.append(conn)
        return conn

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


def _bootstrap_host(
    host: Host,
    key: str,
    initial_user: str,
    password: str | None,
    key_logins_only: bool,
    opened: _Opened,
) -> BootstrapResult:
    result = BootstrapResult()
    known = known_hosts_file(host)
    policy = RecordNewKeys(known, defer=True)
    try:
        conn, user, password = _first_login(host, initial_user, password, policy, opened)
    except ConnectionAbortedError as error:
        result.error = f"{host.name}: {error}."
        return result
    try:
        conn.open()  # logged in: a new host key is recorded now, not before
        policy.commit()
        result.host_key = "known"
        deploy_user = host.data.get("ssh_user")
        if not _as_root(conn, user, password, ACCOUNT, [deploy_user, key], result):
            return result
        if not _deploy_user_works(host, known, result, opened):
            return result
        if key_logins_only:
            _as_root(conn, user, password, KEY_LOGINS_ONLY, [SSHD_DROP_IN], result)
    except Exception as error:  # paramiko's and the network's: one sentence for this host
        result.error = connect_error(host.name, error, known)
    finally:
        conn.close()
        result.host_key = _host_key(policy, result.host_key)
    return result


def _host_key(policy: RecordNewKeys, checked: str) -> str:
    """What the table says of a host's key: recorded, new but not recorded, or ``checked``."""
    if policy.recorded:
        return "recorded " + " ".join(next(iter(policy.recorded.values())))
    if policy.seen:
        kind, print_ = next(iter(policy.seen.values()))
        return f"new {kind} {print_}, not recorded (the login failed)"
    return checked


def _first_login(host: Host, initial_user: str, password: str | None, policy, opened: _Opened):
    """The deploy user with its key when it already works (a host bootstrapped before, whose
    password logins may be off by now), else ``initial_user``: ``(connection, user, password)``."""
    conn = opened.connection(host, policy=policy)
    try:
        if conn.run("sudo -n true", hide=True, warn=True, in_stream=False).exited == 0:
            return conn, host.data.get("ssh_user"), None
    except paramiko.AuthenticationException:
        pass
    except Exception:  # unreachable, or a host key that does not match: said by the next try
        pass
    conn.close()
    return (
        opened.connection(host, user=initial_user, password=password, policy=policy),
        initial_user,
        password,
    )


def _as_root(conn, initial_user, password, script, args, result: BootstrapResult) -> bool:
    """Run ``script`` as root; collect its ``changed`` lines, fail on its ``error`` line."""
    line = shlex.join(["sh", "-c", script, "provision-bootstrap", *args])
    options = dict(hide=True, warn=True, in_stream=False)
    if initial_user == "root":
        done = conn.run(line, **options)
    elif password is not None:
        done = conn.sudo(line, password=password, **options)
    else:
        done = conn.run("sudo -n " + line, **options)
    for output in done.stdout.splitlines():
        word, _, rest = output.partition(" ")
        if word == "changed":
            result.changes.append(rest)
        elif word == "error":
            result.error = f"{conn.host}: {rest}."
    if done.exited != 0 and not result.error:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        result.error = f"{conn.host}: the bootstrap as {initial_user} failed: {detail}."
    return result.error is None


def _deploy_user_works(host: Host, known, result: BootstrapResult, opened: _Opened) -> bool:
    """Log in as the deploy user with its key and run ``sudo -n true``."""
    user = host.data.get("ssh_user")
    conn = opened.connection(host, policy=paramiko.RejectPolicy())
    try:
        done = conn.run("sudo -n true", hide=True, warn=True, in_stream=False)
        if done.exited == 0:
            return True
        detail = done.stderr.strip() or f"exit code {done.exited}"
        result.error = f"{host.name}: {user} logs in but sudo fails ({detail}); check sudoers."
    except Exception as error:
        result.error = (
            f"{connect_error(host.name, error, known)} (as the new deploy user {user}; "
            "password logins were left as they were)"
        )
    finally:
        conn.close()
    return False
