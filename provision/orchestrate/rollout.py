"""Rolling changes: apply to a batch of hosts, verify that batch, then go on to the next.

Ansible users know this as ``serial`` with ``max_fail_percentage``. A rollout stops when more
than ``fail_percent`` of a batch failed (the apply or the verification), or when it is
interrupted. Its report says which hosts are done, failed, interrupted or were never
attempted, and per host the engine's version from -> to and how long the daemon was down;
``resume`` reads it back so that a new run skips the hosts already done.

With ``rollback``, the failed hosts of a batch get every package the apply moved (the engine,
containerd.io, the plugins) back at its previous version (an apt downgrade, ``/var/lib/docker``
kept); the versions are checked, the hosts verified again, and the report names them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from provision.core import interrupt
from provision.core.compat import fresh_run
from provision.core.errors import UsageError
from provision.orchestrate.batches import batches
from provision.orchestrate.run import Locking, run_deploy

from .inventory import Fleet

STATES = ("done", "failed", "interrupted", "not attempted")


@dataclass
class HostState:
    """Where one host of a rollout stands."""

    state: str = "not attempted"
    batch: int | None = None
    apply: str | None = None  # the apply's status: changed, unchanged, failed, interrupted
    verify: str | None = None  # passed, failed
    error: str | None = None
    earlier: bool = False  # done by the run this one resumed
    engine_from: str | None = None  # docker-ce before the apply, when the apply changed it
    engine_to: str | None = None
    downtime_s: float | None = None  # how long the daemon was down
    # every package the apply moved from one version to another: name -> its version before
    packages_from: dict[str, str] = field(default_factory=dict)
    packages_to: dict[str, str] = field(default_factory=dict)  # and its version after
    rolled_back_to: str | None = None  # the engine reinstalled after the batch failed
    # what a rollback leaves at its new version, and why: name -> reason
    kept: dict[str, str] = field(default_factory=dict)
    restored: dict[str, str] = field(default_factory=dict)  # each package's version after it
    rollback: str | None = None  # passed: reinstalled and verified; failed: why not

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False, {})}


@dataclass
class Rollout:
    """A rolling apply over ``hosts`` (in order) in batches of ``size``."""

    size: int
    fail_percent: int
    hosts: dict[str, HostState]
    batch: str = ""
    batches: list[list[str]] = field(default_factory=list)
    stopped: str | None = None
    interrupted: str | None = None
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(host.state == "done" for host in self.hosts.values())

    def summary(self) -> dict[str, int]:
        counts = {"hosts": len(self.hosts), **{state: 0 for state in STATES}}
        for host in self.hosts.values():
            counts[host.state] += 1
        return counts

    def as_dict(self) -> dict:
        return {
            "command": "apply",
            "rollout": {
                "batch": self.batch,
                "batch_size": self.size,
                "fail_percent": self.fail_percent,
                "batches": self.batches,
                "stopped": self.stopped,
            },
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary(),
            "notes": self.notes,
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            "hosts": {name: host.as_dict() for name, host in self.hosts.items()},
        }


def resumed(path: str) -> tuple[list[str], str]:
    """The hosts a rollout report (``--report`` of ``apply --batch``) lists as done, and its
    ``--batch``."""
    try:
        data = json.loads(Path(path).read_bytes())
        hosts, batch = data["hosts"], data["rollout"]["batch"]
        done = [name for name, host in hosts.items() if host["state"] == "done"]
        if isinstance(batch, str | int) and not isinstance(batch, bool) and str(batch):
            return done, str(batch)
    except FileNotFoundError:
        raise UsageError(f"--resume {path} does not exist; pass the report of a rollout.") from None
    except IsADirectoryError:
        raise UsageError(f"--resume {path} is a directory; pass the report of a rollout.") from None
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        pass
    raise UsageError(
        f"--resume {path} is not the JSON report of `provision apply --batch ... --report`; "
        "pass that report."
    )


def roll_out(
    fleet: Fleet,
    deploy: Callable[[], None],
    verify: Callable[[Fleet], object],
    size: int,
    fail_percent: int = 0,
    done: list[str] | None = None,
    locking: Locking | None = None,
    on_batch: Callable[[Rollout], None] | None = None,
    apply: Callable[..., object] = run_deploy,
    rollback: Callable[[object, dict[str, tuple[str, str]]], tuple[dict, dict]] | None = None,
) -> Rollout:
    """Apply ``deploy`` batch by batch, verifying each batch before the next one starts.

    Hosts named in ``done`` (from an earlier run) are skipped. ``on_batch`` sees the rollout
    after every batch, e.g. to write the report as it goes; ``apply`` runs one batch
    (``run_deploy``'s arguments). With ``rollback`` (``rollback(host_data, {package: (before,
    after)})`` gives the host data that pins them back, and the packages it keeps with why:
    ``docker.pins.previous_versions``), a batch's failed hosts get their previous versions back
    before the rollout stops or goes on.
    """
    started = time.monotonic()
    done = set(done or ())
    rollout = Rollout(size, fail_percent, {host.name: HostState() for host in fleet.hosts})
    rollout.notes = list(fleet.notes)
    for name in done & rollout.hosts.keys():
        rollout.hosts[name] = HostState("done", earlier=True)
    todo = [host for host in fleet.hosts if host.name not in done]
    rollout.batches = batches([host.name for host in todo], size)
    try:
        for number, names in enumerate(rollout.batches, start=1):
            _batch(fleet, deploy, verify, rollout, number, names, locking, apply)
            if rollback and not rollout.interrupted:
                _roll_back(fleet, deploy, verify, rollout, names, locking, apply, rollback)
            if on_batch:
                on_batch(rollout)
            if rollout.interrupted:
                break
            failed = sum(rollout.hosts[name].state == "failed" for name in names)
            if failed * 100 > fail_percent * len(names):
                rollout.stopped = (
                    f"batch {number}: {failed} of {len(names)} hosts failed, more than "
                    f"--fail-percent {fail_percent}%; the hosts after it were not attempted."
                )
                break
    except KeyboardInterrupt:  # between two batches
        rollout.interrupted = interrupt.received()
    if rollout.interrupted and not rollout.stopped:
        rollout.stopped = f"interrupted by {rollout.interrupted}."
    rollout.duration_s = time.monotonic() - started
    return rollout


def _applied_and_checked(fleet, deploy, verify, names, locking, apply):
    """Apply to ``names``, then verify while the hosts' locks are still held."""
    part = Fleet(fleet.path, fleet.inventory, [h for h in fleet.hosts if h.name in names])
    for host in fleet.inventory:  # pyinfra reads every host's operations of the last run
        fresh_run(host)
    checks: dict = {}

    def check(ok_names: list[str]) -> None:
        if ok_names:
            chosen = Fleet(part.path, part.inventory, [h for h in part.hosts if h.name in ok_names])
            checks.update(verify(chosen).hosts)

    return apply(part, deploy, "apply", locking=locking, after=check), checks


def engine_change(changes: list[dict]) -> tuple[str | None, str | None, float | None]:
    """docker-ce's version before and after, and the daemon's downtime, from an apply's
    changes (``HostResult.changes``); ``None`` where the apply did not change them."""
    before, after = package_changes(changes).get("docker-ce", (None, None))
    downtime = None
    for change in changes or ():
        if change.get("downtime_s") is not None:
            downtime = change["downtime_s"]
    return before, after, downtime


def package_changes(changes: list[dict]) -> dict[str, tuple[str | None, str | None]]:
    """Each package an apply changed (``HostResult.changes``): name -> (version before, after);
    ``None`` for not installed."""
    return {
        package["name"]: (package["from"], package["to"])
        for change in changes or ()
        for package in change.get("packages", ())
        if package["from"] != package["to"]
    }


def moved(changes: list[dict]) -> dict[str, str]:
    """The packages an apply moved from one installed version to another: name -> before."""
    return {
        name: before
        for name, (before, after) in package_changes(changes).items()
        if before is not None and after is not None
    }


def _roll_back(fleet, deploy, verify, rollout, names, locking, apply, previous_versions) -> None:
    """Reinstall every package the apply moved (the engine, containerd.io, the plugins) at its
    previous version on the failed hosts of a batch, but what ``rollback`` keeps; check the
    versions, and verify them."""
    back = [
        n for n in names if rollout.hosts[n].state == "failed" and rollout.hosts[n].packages_from
    ]
    if not back:
        return
    for host in fleet.hosts:
        if host.name in back:
            state = rollout.hosts[host.name]
            moves = {n: (v, state.packages_to.get(n)) for n, v in state.packages_from.items()}
            pins, state.kept = previous_versions(host.data, moves)
            for key, value in pins.items():
                setattr(host.data, key, value)
    result, checks = _applied_and_checked(fleet, deploy, verify, back, locking, apply)
    for name in back:
        host, applied, verified = rollout.hosts[name], result.hosts[name], checks.get(name)
        host.rolled_back_to = host.engine_from
        host.restored = {n: after for n, (_, after) in package_changes(applied.changes).items()}
        wrong = [
            f"{package} is {host.restored.get(package) or 'unchanged'}, not {version}"
            for package, version in host.packages_from.items()
            if package not in host.kept and host.restored.get(package) != version
        ]
        if applied.status in ("failed", "interrupted"):
            host.rollback = f"failed: {applied.error}"
        elif wrong:
            host.rollback = f"failed: {'; '.join(wrong)}"
        elif verified is None or verified.failed:
            host.rollback = "failed: the verification of the previous versions failed"
        else:
            host.rollback = "passed"
    done = [n for n in back if rollout.hosts[n].rollback == "passed"]
    if done:
        rollout.notes.append(f"rolled back to their previous versions: {', '.join(done)}")
    kept = [f"{n} ({', '.join(rollout.hosts[n].kept)})" for n in back if rollout.hosts[n].kept]
    if kept:
        rollout.notes.append(f"kept at their newer versions by the rollback: {', '.join(kept)}")
    rollout.interrupted = result.interrupted


def _batch(fleet, deploy, verify, rollout, number, names, locking, apply) -> None:
    """Apply, then verify while the hosts' locks are still held."""
    result, checks = _applied_and_checked(fleet, deploy, verify, names, locking, apply)
    for name in names:
        host, applied = rollout.hosts[name], result.hosts[name]
        host.batch, host.apply = number, applied.status
        host.engine_from, host.engine_to, host.downtime_s = engine_change(applied.changes)
        host.packages_from = moved(applied.changes)
        host.packages_to = {n: package_changes(applied.changes)[n][1] for n in host.packages_from}
        verified = checks.get(name)
        if verified is not None:
            host.verify = "failed" if verified.failed else "passed"
        if applied.status in ("failed", "interrupted"):
            host.state, host.error = applied.status, applied.error
        elif verified is None:
            host.state = "interrupted" if result.interrupted else "failed"
            host.error = f"{name}: the verification did not run."
        elif verified.failed:
            host.state = "failed"
            host.error = verified.error or f"{name}: verification failed: " + "; ".join(
                f"{c.id}: {c.message}" for c in verified.checks if not c.passed
            )
        else:
            host.state = "done"
    rollout.notes += [note for note in result.notes if note not in rollout.notes]
    rollout.interrupted = result.interrupted
