"""Rootless Docker for the users of ``docker_rootless_users``.

Each user gets subordinate uid and gid ranges, lingering, and the rootless ``docker.service`` of
Docker's setup tool running in their ``systemd --user`` manager. The unit file is written once,
root-owned, to ``/etc/systemd/user`` (nothing is written into a user's home as root); each user
enables it in their own manager. The user's daemon listens on
``unix:///run/user/UID/docker.sock``.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, replace

from pyinfra import host
from pyinfra.api import FactBase

from provision.core.changes import Change
from provision.core.recording import operation
from provision.core.snapshot import last_read, read

from . import apt_operations as apt_ops
from . import operations as ops
from .decisions import any_changed, has_changed
from .facts import FileContent, Packages
from .files import write_file
from .rootless_layout import SUBID_FILES, UNIT_TEXT, USER_UNIT, as_user

EXTRAS = "docker-ce-rootless-extras"
# what rootless mode needs from the distribution (Docker's rootless docs): newuidmap and
# newgidmap, a user D-Bus for the user's systemd, and slirp4netns, the network of
# dockerd-rootless.sh by default
HOST_PACKAGES = ["uidmap", "dbus-user-session", "slirp4netns"]
SUBID_START = 100000  # useradd's SUB_UID_MIN
SUBID_COUNT = 65536  # Docker's docs: at least 65,536 ids per user


@dataclass(frozen=True)
class RootlessUser:
    """A user's uid and the state of their rootless Docker."""

    uid: int
    lingering: bool
    active: str
    enabled: str

    @property
    def in_use(self) -> bool:
        """The daemon runs (or fails) or starts at login; ``unknown``: the user's systemd
        manager does not run, and so neither does their daemon."""
        return self.active not in ("inactive", "unknown") or self.enabled == "enabled"


class RootlessUsers(FactBase):
    """``({user: RootlessUser}, [users that do not exist])``.

    Names, and what each user's own systemd manager says, come back in base64 (``-``: nothing),
    so no answer can run into another user's line.
    """

    def command(self, users) -> str:
        parts = []
        for user in users:
            name = base64.b64encode(user.encode()).decode()
            linger = shlex.quote(f"/var/lib/systemd/linger/{user}")
            active, enabled = (
                as_user(user, '"$u"', f"systemctl --user is-{state} docker.service 2>/dev/null")
                for state in ("active", "enabled")
            )
            parts.append(
                f"if u=$(id -u {shlex.quote(user)} 2>/dev/null); then "
                f"l=no; [ -e {linger} ] && l=yes; "
                f"a=$({active} | base64 -w0); e=$({enabled} | base64 -w0); "
                f'echo {name} "$u" "$l" "${{a:--}}" "${{e:--}}"; '
                f"else echo {name} missing; fi; "
            )
        return "( cd / && " + "".join(parts) + "true )"

    def process(self, output: list[str]):
        found, missing = {}, []
        for line in output:
            fields = line.split()
            try:
                user = base64.b64decode(fields[0], validate=True).decode()
                if fields[1:] == ["missing"]:
                    missing.append(user)
                elif len(fields) == 5 and fields[1].isdecimal():
                    active, enabled = (_said(field) for field in fields[3:])
                    found[user] = RootlessUser(int(fields[1]), fields[2] == "yes", active, enabled)
            except (IndexError, ValueError):
                continue
        return found, missing

    @staticmethod
    def default():
        return {}, []


def _said(field: str) -> str:
    """The first word of what systemctl printed (``field`` in base64), ``unknown`` for none."""
    words = base64.b64decode(field, validate=True).decode().split() if field != "-" else []
    return words[0] if words else "unknown"


def with_subids(text: str, wanted: dict[str, int]) -> str:
    """``/etc/subuid`` (or ``subgid``) ``text`` with a range of :data:`SUBID_COUNT` ids added
    for each user of ``wanted`` (``{name: uid}``) that has no range that large, by name or uid.

    A new range starts after every range in the file and at :data:`SUBID_START` or above.
    """
    ranges, has = [], set()
    for line in text.splitlines():
        owner, _, rest = line.partition(":")
        start, _, count = rest.partition(":")
        if start.isdigit() and count.isdigit():
            ranges.append((int(start), int(count)))
            if int(count) >= SUBID_COUNT:
                has.add(owner)
    free = max([SUBID_START, *(start + count for start, count in ranges)])
    added = []
    for name, uid in wanted.items():
        if name not in has and str(uid) not in has:
            added.append(f"{name}:{free}:{SUBID_COUNT}\n")
            free += SUBID_COUNT
    if not added:
        return text
    return text + ("\n" if text and not text.endswith("\n") else "") + "".join(added)


def _subordinate_ids_change(kw: dict, _name) -> Change:
    users = kw["users"]
    found, missing = last_read(RootlessUsers, users=users)
    if missing:
        return Change("", what=[f"refuse: no user {', '.join(missing)} on the host"])
    wanted = {user: found[user].uid for user in users}
    change = Change("")
    for path in SUBID_FILES:
        current = last_read(FileContent, path=path)
        text = current.content.decode(errors="surrogateescape") if current else ""
        lacking = [user for user in users if with_subids(text, {user: wanted[user]}) != text]
        if lacking:
            change.what.append(f"add id ranges for {', '.join(lacking)} to {path}")
        elif current is None:
            change.what.append(f"create {path}")
    return change


@operation(describe=_subordinate_ids_change)
def subordinate_ids(users: list[str]):
    """Give each of ``users`` (who must exist) subordinate uid and gid ranges."""
    found, missing = read(RootlessUsers, users=users)
    if missing:
        yield ops.refuse(
            f"{host.name}: docker_rootless_users names {', '.join(missing)}, but no such "
            "user exists on the host; create the user first or remove it."
        )
        return
    wanted = {user: found[user].uid for user in users}
    for path in SUBID_FILES:
        current = read(FileContent, path=path)
        text = current.content.decode(errors="surrogateescape") if current else ""
        edited = with_subids(text, wanted)
        if current is not None and edited == text:
            host.noop(f"{path} has ranges for {', '.join(users)}")
            continue
        mode = current.mode.rjust(4, "0") if current else "0644"
        yield from write_file(path, edited.encode(errors="surrogateescape"), mode)


def _user_services_change(kw: dict, name_of) -> Change:
    found, _ = last_read(RootlessUsers, users=kw["users"])
    causes = [name_of(meta) for meta in kw.get("restart_after") or () if has_changed(meta)]
    change = Change("")
    for user in kw["users"]:
        state = found.get(user)
        if state is None:
            continue
        if not state.lingering:
            change.what.append(f"let {user}'s services run without a login (enable-linger)")
        if state.enabled != "enabled":
            change.what.append(f"enable {user}'s rootless Docker")
        if state.active != "active":
            change.what.append(f"start {user}'s rootless Docker")
        elif causes:
            change.what.append(f"restart {user}'s rootless Docker: {', '.join(causes)} changed it")
    return change


@operation(describe=_user_services_change)
def user_services(users: list[str], restart_after=()):
    """Lingering and a running, enabled ``docker.service`` in each user's systemd manager.

    The user's daemon is restarted when one of the ``restart_after`` operations changed (the
    unit file, ``docker-ce-rootless-extras``).
    """
    found, _ = read(RootlessUsers, users=users)
    restart = bool(restart_after) and any_changed(restart_after)
    for user in users:
        state = found.get(user)
        if state is None:
            continue  # refused by subordinate_ids already
        running = state.active == "active"
        if state.lingering and running and state.enabled == "enabled" and not restart:
            host.noop(f"{user}'s rootless Docker is running and enabled")
            continue
        if not state.lingering:
            yield f"loginctl enable-linger {shlex.quote(user)}"
        yield f"systemctl start user@{state.uid}.service"
        yield as_user(user, str(state.uid), "systemctl --user daemon-reload")
        if state.enabled != "enabled":
            yield as_user(user, str(state.uid), "systemctl --user enable docker.service")
        verb = "restart" if running and restart else "start"
        yield as_user(user, str(state.uid), f"systemctl --user {verb} docker.service")


def _user_services_absent_change(kw: dict, _name) -> Change:
    found, _ = last_read(RootlessUsers, users=kw["users"])
    users = [user for user, state in found.items() if state.in_use]
    return Change("", what=[f"stop and disable {user}'s rootless Docker" for user in users])


@operation(describe=_user_services_absent_change)
def user_services_absent(users: list[str]):
    """Stop and disable each user's rootless ``docker.service`` (lingering and the users' id
    ranges stay: other services may use them)."""
    found, _ = read(RootlessUsers, users=users)
    stopping = [user for user, state in found.items() if state.in_use]
    if not stopping:
        host.noop("no rootless Docker runs or is enabled")
        return
    for user in stopping:
        uid = str(found[user].uid)
        yield as_user(user, uid, "systemctl --user disable --now docker.service")


def queries(settings) -> list[tuple[type, dict]]:
    """The facts :func:`rootless_docker` reads on a converged host."""
    users = list(settings.docker_rootless_users)
    if not users:
        return []
    return [
        (RootlessUsers, {"users": users}),
        *[(FileContent, {"path": path}) for path in SUBID_FILES],
        (Packages, {"packages": HOST_PACKAGES}),
        (Packages, {"packages": [EXTRAS]}),
        (FileContent, {"path": USER_UNIT}),
    ]


def rootless_docker(settings) -> None:
    """Rootless Docker for each of ``settings.docker_rootless_users`` (nothing without any)."""
    users = list(settings.docker_rootless_users)
    if not users:
        return
    lock = settings.docker_apt_lock_timeout
    subordinate_ids(name="Subordinate ids for rootless Docker", users=users)
    apt_ops.packages_present(
        name="Install rootless Docker prerequisites", packages=HOST_PACKAGES, lock_timeout=lock
    )
    unit = ops.file_content(name="Rootless Docker user unit", path=USER_UNIT, content=UNIT_TEXT)
    changes = [unit]
    if EXTRAS not in settings.docker_packages:
        extras = replace(settings, docker_packages=(EXTRAS,))  # pinned and held as the engine
        package = apt_ops.docker_packages(
            name="Install docker-ce-rootless-extras",
            packages=[EXTRAS],
            pins=extras.pins(),
            holds=extras.holds(),
            latest=settings.docker_packages_state == "latest",
            lock_timeout=lock,
        )
        changes.append(package)
    user_services(name="Rootless Docker services", users=users, restart_after=changes)
