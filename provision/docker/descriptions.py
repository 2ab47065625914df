"""What each operation of the Docker deploy changes, in words: the ``describe`` of each
operation (``recording.operation``), from its arguments and the facts the operation itself read
(``snapshot.last_read``). Keys appear only by fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass

from provision.core.changes import Change, diff
from provision.core.snapshot import last_read

from . import daemon, facts, keyring
from .decisions import (
    has_changed,
    installed_among,
    installed_engine,
    pin_setting,
    sources_removals,
    takeover_backup,
    wanted_daemon_config,
)
from .dpkg import RELEASE_RE, compare_versions, newest_match, version_matches
from .logins import AUTH_DIR


@dataclass
class PackageChange:
    """One package: its version before and after (``None``: not installed)."""

    name: str
    before: str | None
    after: str | None
    wanted: str = ""  # what the run asks for when ``after`` is not known yet

    @property
    def action(self) -> str:
        if self.after is None and not self.wanted:
            return "remove"
        if self.before is None:
            return "install"
        if self.after is None:  # a pinned version, before the run
            target = self.wanted.split()[0]
            epoch = self.before.partition(":")[0] if ":" in self.before else ""
            after = f"{epoch}:{target}" if epoch and ":" not in target else target
        else:
            after = self.after
        order = compare_versions(after, self.before)
        return "upgrade" if order > 0 else "downgrade" if order < 0 else "reinstall"

    def sentence(self) -> str:
        before, after = self.before or "not installed", self.after or self.wanted or "removed"
        return f"{self.action} {self.name}: {before} → {after}"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "action": self.action,
            "from": self.before,
            "to": self.after or self.wanted or None,
        }


def settle_versions(host, changes: list[Change]) -> None:
    """After a real run on ``host``: the versions its packages have now (one ``Packages``
    read for all)."""
    names = sorted({p.name for change in changes for p in change.packages + change.along})
    if names:
        settle_packages(changes, host.get_fact(facts.Packages, packages=names))


def settle_downtime(host, changes: list[Change]) -> None:
    """After a real run on ``host``: how long each restarted unit was down
    (``DaemonDowntime``)."""
    for change in changes:
        if change.restarts:
            change.downtime_s = host.get_fact(facts.DaemonDowntime, unit=change.restarts)
            if change.downtime_s is not None:
                change.what.append(f"{change.restarts} was down {change.downtime_s:.1f} s")


def settle_packages(changes: list[Change], installed: dict) -> None:
    """Fill in the versions packages have after a real run (``installed``: ``Packages`` fact)."""
    for change in changes:
        for package in change.packages + change.along:
            state = installed.get(package.name)
            now = state.version if state is not None and state.installed else None
            if now is not None or not package.wanted:  # an install that did not happen stays asked
                package.after, package.wanted = now, ""


def _version(state: dict, name: str) -> str | None:
    package = state.get(name)
    return package.version if package is not None and package.installed else None


def packages_absent(kw: dict, _name) -> Change:
    state = last_read(facts.Packages, packages=kw["packages"])
    purge = kw.get("purge")
    found = [n for n in kw["packages"] if _version(state, n) or (purge and n in state)]
    change = Change(
        "",
        packages=[PackageChange(n, state[n].version, None) for n in found],
        settle=settle_versions,
    )
    if purge and found:
        change.what.append("purge their configuration too")
    return change


def packages_present(kw: dict, _name) -> Change:
    state = last_read(facts.Packages, packages=kw["packages"])
    missing = [n for n in kw["packages"] if _version(state, n) is None]
    return Change(
        "",
        what=["apt-get update (the distribution's lists)"],
        packages=[PackageChange(n, None, None, "newest in the distribution") for n in missing],
        settle=settle_versions,
    )


def docker_packages(kw: dict, _name) -> Change:
    packages, pins, holds = kw["packages"], kw.get("pins") or {}, set(kw.get("holds") or [])
    state = last_read(facts.Packages, packages=packages)
    candidates = last_read(facts.PolicyCandidates, packages=packages) if kw.get("latest") else {}
    change = Change("", settle=settle_versions)
    for name in packages:
        before, pin = _version(state, name), pins.get(name)
        if before is None:
            change.packages.append(
                PackageChange(name, None, None, pin or "newest in the repository")
            )
        elif pin and not version_matches(before, pin):
            change.packages.append(
                PackageChange(name, before, None, f"{pin} ({pin_setting(name)})")
            )
        elif pin and kw.get("latest") and name not in holds and RELEASE_RE.fullmatch(pin):
            newest = newest_match(last_read(facts.CandidateVersions, package=name), pin)
            if newest not in (None, before):
                change.packages.append(PackageChange(name, before, newest))
        elif name in candidates and name not in pins and name not in holds:
            if candidates[name] != before:
                change.packages.append(PackageChange(name, before, candidates[name]))
    asked = {p.name for p in change.packages}
    change.along = [
        PackageChange(n, _version(state, n), None)
        for n in packages
        if n not in asked and _version(state, n) is not None
    ]
    replaced = kw.get("replaces") or []
    if replaced:  # removed in the install's own apt transaction
        gone = last_read(facts.Packages, packages=replaced)
        change.packages += [
            PackageChange(n, gone[n].version, None)
            for n in installed_among(replaced, reader=last_read)
        ]
    held = {n for n in packages if n in state and state[n].held}
    if holds - held:
        change.what.append(f"hold {', '.join(sorted(holds))} (apt-mark hold)")
    if held - holds:
        change.what.append(f"release the hold on {', '.join(sorted(held - holds))}")
    return change


def group_members(kw: dict, _name) -> Change:
    group, users = kw["group"], kw["users"]
    members, missing = last_read(facts.Users, group=group, users=users)
    change = Change("")
    if missing:
        change.what.append(f"refuse: no user {', '.join(missing)} on the host")
        return change
    if members is None:
        change.what.append(f"create group {group}")
    change.what += [f"add {user} to group {group}" for user in users if user not in (members or ())]
    return change


def service(kw: dict, name_of) -> Change:
    unit, running, enabled = kw["unit"], kw.get("running", True), kw.get("enabled", True)
    active, is_enabled = last_read(facts.ServiceState, units=[unit])[unit]
    change = Change("")
    if enabled and is_enabled != "enabled":
        change.what.append(f"enable {unit} at boot")
    elif not enabled and is_enabled == "enabled":
        change.what.append(f"disable {unit} at boot")
    causes = [name_of(meta) for meta in kw.get("restart_after") or () if has_changed(meta)]
    if running and active != "active":
        change.what.append(f"start {unit}")
    elif running and causes:
        change.what.append(f"restart {unit}: {', '.join(causes)} changed it")
        change.restarts, change.settle = unit, settle_downtime
    elif not running and active == "active":
        change.what.append(f"stop {unit}")
    return change


def file_content(kw: dict, _name) -> Change:
    content = kw["content"]
    wanted = None if content is None else content.encode()
    return _file(kw["path"], wanted, kw.get("mode", "0644"), kw.get("takeover"))


def daemon_config_file(kw: dict, _name) -> Change:
    settings = kw["settings"]
    config = wanted_daemon_config(settings, last_read)
    wanted = daemon.daemon_json(config).encode()
    change = _file(daemon.DAEMON_JSON, wanted, daemon.mode(settings, config), kw.get("takeover"))
    own = daemon.daemon_config(settings, installed_engine(settings, last_read))
    kept = sorted(set(config) - set(own))
    if change.what and kept:
        change.what.append(f"keep {', '.join(kept)}: no setting writes them")
    return change


def proxy_dropin_file(kw: dict, _name) -> Change:
    settings = kw["settings"]
    content = daemon.proxy_dropin(settings, installed_engine(settings, last_read))
    wanted = None if content is None else content.encode()
    return _file(daemon.PROXY_DROPIN, wanted, daemon.mode(settings), kw.get("takeover"))


def systemd_reloaded(kw: dict, name_of) -> Change:
    causes = ", ".join(name_of(meta) for meta in kw.get("after") or ())
    return Change("", what=[f"systemctl daemon-reload ({causes} changed)"])


def audit_rules_loaded(kw: dict, name_of) -> Change:
    causes = ", ".join(name_of(meta) for meta in kw.get("after") or ())
    return Change("", what=[f"augenrules --load where auditd runs ({causes} changed)"])


def _file(path: str, wanted: bytes | None, mode: str, takeover: str | None = None) -> Change:
    """What writing ``wanted`` to ``path`` changes (``None``: removing it), a file this project
    did not write backed up first (``takeover``: the run's stamp)."""
    mode = mode.lstrip("0")
    current = last_read(facts.FileContent, path=path)
    change = Change("")
    secret = path.startswith(f"{AUTH_DIR}/")  # a login: its contents are never shown
    hidden = " (a login: contents not shown)" if secret else ""
    if wanted is None:
        change.what = [f"remove {path}"] if current is not None else []
    elif current is None:
        change.what.append(f"create {path} (mode {mode}, root:root){hidden}")
    else:
        if current.content != wanted:
            change.what.append(f"rewrite {path}{hidden}")
        change.what += _mode_and_owner(path, current, mode)
    if wanted is not None and not secret:
        change.diff = diff(path, current.content if current else None, wanted)
    backup = takeover_backup(path, takeover, last_read) if change.what else None
    if backup:
        change.what.insert(0, f"back up {path} to {backup} (not written by provision)")
    return change


def file_absent(kw: dict, _name) -> Change:
    return Change("", what=[f"remove {kw['path']}"])


def signing_key(kw: dict, _name) -> Change:
    path, fingerprint = kw["path"], kw["fingerprint"]
    current = last_read(facts.FileContent, path=path)
    found = _fingerprints(current.content) if current else []
    wanted = f"the key {spaced(fingerprint)} from {kw['url']}"
    if current is None:
        return Change("", what=[f"install {wanted} as {path}"])
    if found != [fingerprint]:
        shown = ", ".join(map(spaced, found)) or "no key"
        return Change("", what=[f"replace {path} (now {shown}) with {wanted}"])
    what = _mode_and_owner(path, current, "644")
    if not keyring.is_canonical(current.content, fingerprint):
        what.append(f"rewrite {path} as the checked key alone, in canonical armor")
    return Change("", what=what)


def key_absent_from(kw: dict, _name) -> Change:
    return Change("", what=[f"remove the key {spaced(kw['fingerprint'])} from {kw['path']}"])


def paths_absent(kw: dict, _name) -> Change:
    found = last_read(facts.Paths, patterns=kw["patterns"])
    return Change("", what=[f"remove {path}" for path in found])


def repository_sources_absent(kw: dict, _name) -> Change:
    removals = sources_removals(kw["uris"], kw["components"], kw["keyring"], kw["keep"], last_read)
    return Change("", what=[line for removal in removals for line in removal.sentences])


def apt_update(kw: dict, name_of) -> Change:
    causes = [name_of(meta) for meta in kw.get("after") or () if has_changed(meta)]
    if causes:
        because = f" ({', '.join(causes)} changed)"
    elif kw.get("installing"):
        because = " (this run installs from the repository: apt's lists may lack it)"
    else:
        because = ""
    return Change("", what=["apt-get update" + because])


def dpkg_repaired(kw: dict, _name) -> Change:
    return Change(
        "",
        what=["finish dpkg's interrupted run (dpkg --configure -a, apt-get install --fix-broken)"],
    )


def spaced(fingerprint: str) -> str:
    """A fingerprint in groups of four, as gpg prints it."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def _fingerprints(content: bytes) -> list[str]:
    try:
        return keyring.primary_fingerprints(content)
    except keyring.NotAKeyError:
        return []


def _mode_and_owner(path: str, current, mode: str) -> list[str]:
    what = []
    if current.mode != mode:
        what.append(f"mode of {path}: {current.mode} → {mode}")
    if current.owner != "root:root":
        what.append(f"owner of {path}: {current.owner} → root:root")
    return what
