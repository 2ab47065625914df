"""Rolling engine upgrades: per host the engine from -> to and the downtime; with ``rollback``
a failed batch's hosts get back the previous version of every package the apply moved (the
real ``roll_out``, fake hosts)."""

from __future__ import annotations

from provision.docker.pins import previous_versions
from provision.orchestrate.results import FleetResult, HostResult
from provision.orchestrate.rollout import engine_change, roll_out
from provision.report.tables import _engine
from provision.verify.run import Check, HostChecks

from .fakes import converged_machine
from .test_cli import fake_inventory, run_main
from .test_fleet_ops import fleet_of

OLD, NEW = "5:26.1.5-1~debian.12~bookworm", "5:28.5.2-1~debian.12~bookworm"
RUNTIME = {OLD: "1.7.19-1", NEW: "1.7.27-1"}  # the containerd.io each engine's upgrade brings
NEXT_RUNTIME = "2.1.9-1"  # a containerd.io of the next major release


def engine_changes(before: str, after: str, downtime: float = 0.8) -> list[dict]:
    """An apply's changes as ``HostResult.changes`` holds them."""
    return [
        {
            "operation": "Install Docker packages",
            "packages": [{"name": "docker-ce", "action": "upgrade", "from": before, "to": after}],
        },
        {"operation": "docker service", "changes": ["restart docker"], "downtime_s": downtime},
    ]


class Fleet:
    """Hosts with an installed engine: ``docker_version`` (host data) moves it; a host in
    ``broken`` fails its verification on ``NEW`` (the forced failure), ``stuck`` ones cannot
    be downgraded."""

    def __init__(self, names, broken=(), stuck=(), runtime=False, unpinned=(), runtime_to=None):
        self.engines = dict.fromkeys(names, OLD)
        self.broken, self.stuck = set(broken), set(stuck)
        self.applied: list[tuple[list[str], list[str]]] = []
        # with ``runtime``, containerd.io moves along with the engine as apt upgrades it,
        # and back only where a pin says so (never on the ``unpinned`` hosts: apt keeps it)
        self.runtime = dict.fromkeys(names, RUNTIME[OLD]) if runtime else {}
        self.unpinned = set(unpinned)
        self.runtime_to = runtime_to or RUNTIME[NEW]
        self.pins: list[dict] = []

    def apply(self, part, deploy, command, locking=None, after=None):
        hosts, wanted = {}, []
        for host in part.hosts:
            target = {"28.5.2": NEW}.get(host.data.get("docker_version"), host.data.docker_version)
            wanted.append(target)
            before = self.engines[host.name]
            if host.name in self.stuck and target == OLD:
                hosts[host.name] = HostResult("failed", error=f"{host.name}: apt failed")
                continue
            self.engines[host.name] = target
            changed = target != before
            hosts[host.name] = HostResult("changed" if changed else "unchanged")
            hosts[host.name].changes = engine_changes(before, target) if changed else []
            pins = host.data.get("docker_package_versions") or {}
            self.pins.append(dict(pins))
            if host.name in self.runtime:
                was = self.runtime[host.name]
                now = pins.get("containerd.io") if host.name not in self.unpinned else None
                now = now or (self.runtime_to if target == NEW else was)
                self.runtime[host.name] = now
                if now != was:
                    package = {"name": "containerd.io", "action": "", "from": was, "to": now}
                    hosts[host.name].changes[0]["packages"].append(package)
        self.applied.append(([h.name for h in part.hosts], wanted))
        after([n for n, r in hosts.items() if r.status != "failed"])
        return FleetResult("apply", hosts)

    def verify(self, part):
        def checks(name):
            ok = not (name in self.broken and self.engines[name] == NEW)
            return HostChecks([Check("test_container_runs", ok, "no greeting")])

        return type("Verified", (), {"hosts": {h.name: checks(h.name) for h in part.hosts}})


def rolled(run: Fleet, names, rollback=previous_versions):
    fleet = fleet_of(*names)
    for host in fleet.hosts:
        host.data.docker_version = "28.5.2"
    return roll_out(fleet, None, run.verify, 2, 0, apply=run.apply, rollback=rollback)


def test_a_failed_batch_is_rolled_back_and_verified_and_the_rollout_stops() -> None:
    run = Fleet("abcdef", broken="cd")
    rollout = rolled(run, "abcdef")
    assert run.engines == {"a": NEW, "b": NEW, "c": OLD, "d": OLD, "e": OLD, "f": OLD}
    assert run.applied == [
        (["a", "b"], [NEW, NEW]),
        (["c", "d"], [NEW, NEW]),
        (["c", "d"], [OLD, OLD]),
    ]
    c = rollout.hosts["c"]
    assert (c.state, c.engine_from, c.engine_to, c.downtime_s) == ("failed", OLD, NEW, 0.8)
    assert (c.rolled_back_to, c.rollback) == (OLD, "passed")
    assert rollout.hosts["a"].rolled_back_to is None and rollout.hosts["e"].state == "not attempted"
    assert "rolled back to their previous versions: c, d" in rollout.notes
    report = rollout.as_dict()["hosts"]
    assert report["d"]["rolled_back_to"] == OLD and report["a"]["engine_to"] == NEW
    assert _engine(c) == "26.1.5 → 28.5.2, down 0.8 s; rolled back to 26.1.5: passed"


def test_without_rollback_a_failed_batch_keeps_the_new_engine() -> None:
    run = Fleet("abcd", broken="cd")
    rollout = rolled(run, "abcd", rollback=None)
    assert run.engines["c"] == NEW and rollout.hosts["c"].rolled_back_to is None


def test_a_rollback_that_fails_says_so() -> None:
    run = Fleet("ab", broken="b", stuck="b")
    rollout = rolled(run, "ab")
    assert rollout.hosts["b"].rollback == "failed: b: apt failed"
    assert not any("rolled back" in note for note in rollout.notes)


def test_a_host_whose_engine_did_not_change_is_not_rolled_back() -> None:
    run = Fleet("ab", broken="b")
    run.engines["b"] = NEW  # upgraded by an earlier run; fails now
    rollout = rolled(run, "ab")
    assert rollout.hosts["b"].state == "failed" and rollout.hosts["b"].rolled_back_to is None
    assert len(run.applied) == 1


def test_engine_change_reads_docker_ce_and_the_downtime() -> None:
    assert engine_change(engine_changes(OLD, NEW, 2.5)) == (OLD, NEW, 2.5)
    other = [{"packages": [{"name": "containerd.io", "from": "1.7.24-1", "to": "2.1.9-1"}]}]
    assert engine_change(other) == (None, None, None)
    assert engine_change([]) == (None, None, None)


def test_rollback_without_batches_is_one_sentence_and_exit_2(tmp_path, monkeypatch, capsys):
    inventory = fake_inventory(tmp_path, converged_machine())
    code, _, err = run_main(monkeypatch, capsys, "apply", "-i", inventory, "--rollback-on-failure")
    assert code == 2
    assert err.strip().endswith("--rollback-on-failure rolls back a batch: add --batch N.")
    assert err.count("\n") == 1


def test_a_rollback_restores_every_package_the_upgrade_moved() -> None:
    run = Fleet("abcd", broken="cd", runtime=True)
    rollout = rolled(run, "abcd")
    assert run.runtime == {
        "a": RUNTIME[NEW],
        "b": RUNTIME[NEW],
        "c": RUNTIME[OLD],
        "d": RUNTIME[OLD],
    }
    c = rollout.hosts["c"]
    assert c.packages_from == {"docker-ce": OLD, "containerd.io": RUNTIME[OLD]}
    assert (c.restored, c.rollback) == ({"docker-ce": OLD, "containerd.io": RUNTIME[OLD]}, "passed")
    assert run.pins[-2:] == [{"containerd.io": RUNTIME[OLD]}] * 2  # pinned back by the rollback
    assert rollout.as_dict()["hosts"]["c"]["restored"]["containerd.io"] == RUNTIME[OLD]


def test_a_rollback_that_leaves_a_package_moved_fails_naming_it() -> None:
    run = Fleet("ab", broken="b", runtime=True, unpinned="b")
    rollout = rolled(run, "ab")
    b = rollout.hosts["b"]
    assert b.rollback == f"failed: containerd.io is unchanged, not {RUNTIME[OLD]}"
    assert not any("rolled back" in note for note in rollout.notes)


def test_a_rollback_keeps_containerd_where_the_upgrade_crossed_its_major_release() -> None:
    run = Fleet("ab", broken="b", runtime=True, runtime_to=NEXT_RUNTIME)
    rollout = rolled(run, "ab")
    b = rollout.hosts["b"]
    assert run.engines["b"] == OLD and run.runtime["b"] == NEXT_RUNTIME
    assert run.pins[-1] == {}  # containerd.io not pinned back: only the engine
    assert b.packages_from == {"docker-ce": OLD, "containerd.io": RUNTIME[OLD]}
    assert b.kept["containerd.io"].startswith(f"kept at {NEXT_RUNTIME}: going back to 1.7.19-1")
    assert b.rollback == "passed" and b.restored == {"docker-ce": OLD}
    assert rollout.as_dict()["hosts"]["b"]["kept"] == b.kept
    assert rollout.hosts["a"].kept == {}  # not rolled back: nothing kept
    assert rollout.notes[-1] == "kept at their newer versions by the rollback: b (containerd.io)"
