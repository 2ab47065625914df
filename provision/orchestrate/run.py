"""Running a deploy over a fleet with pyinfra's API, collecting per-host results."""

from __future__ import annotations

import gc
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyinfra.api import Config, DeployError, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops
from pyinfra.api.state import BaseStateCallback
from pyinfra.context import ctx_host, ctx_state

from provision.core import changes, interrupt
from provision.core.compat import (
    fresh_host_keys,
    global_arguments_read_once,
    host_limit,
    hosts_padded_once_per_run,
    op_output,
    operation_data,
    release_operation,
    release_operations,
    set_stage,
    ssh_transport,
)
from provision.core.recording import calls, settling
from provision.core.snapshot import reading_ahead

from .inventory import Fleet
from .lock import HostLock, LockError
from .results import FleetResult, HostResult

global_arguments_read_once()
hosts_padded_once_per_run()

Progress = Callable[[str, str], None]  # (host name, what it does now)


@dataclass(frozen=True)
class Locking:
    """Take each host's lock (``orchestrate.lock``) for the run, waiting up to ``wait`` s."""

    owner: str
    wait: float = 300.0


UNNAMED = "an operation"  # an operation the host's recorded calls do not name


class _Recorder(BaseStateCallback):
    """Keeps each host's current operation, timings, first error and what each operation did.

    Each callback costs the same whatever the fleet's size: a host's steps and their names
    come from its own recorded calls, worked out once, when its first operation starts.
    """

    def __init__(self, results: dict[str, HostResult], progress: Progress | None, planned: dict):
        self.results, self.progress, self.planned = results, progress, planned
        self.started: dict[str, float] = {}
        self.failed_ops: dict[str, str] = {}
        # host name -> ({id(OperationMeta): (its step from 1, its name)}, the host's operations)
        self.steps: dict[str, tuple[dict[int, tuple[int, str]], int]] = {}

    def step(self, state, host, op_hash) -> tuple[int, str, int] | None:
        """``(step, name, operations)`` of operation ``op_hash`` on ``host``; ``None`` when
        the host has no such operation."""
        meta = operation_data(state, host, op_hash)
        if meta is None:  # pyinfra calls back for operations the host does not have
            return None
        if host.name not in self.steps:
            recorded = calls(state, host.name)
            # settled operations (complete before the run) never start
            steps = {
                id(call.meta): (i, call.name)
                for i, call in enumerate(recorded, 1)
                if not call.meta.is_complete()
            }
            self.steps[host.name] = (steps, len(recorded))
        steps, count = self.steps[host.name]
        step, name = steps.get(id(meta), (0, UNNAMED))
        return step, name, count

    def name(self, state, host, op_hash) -> str:
        """The name of operation ``op_hash`` on ``host``, from its own recorded call."""
        found = self.step(state, host, op_hash)
        return found[1] if found else UNNAMED

    def _update(self, host, **changes) -> None:
        result = self.results[host.name]
        for key, value in changes.items():
            setattr(result, key, value)
        self.started.setdefault(host.name, time.monotonic())
        result.duration_s = time.monotonic() - self.started[host.name]
        if self.progress:
            self.progress(host.name, result.current)

    def host_before_connect(self, state, host):
        self._update(host, current="connecting")

    def host_connect_error(self, state, host, error):
        self._update(
            host,
            status="failed",
            current="unreachable",
            error=f"{host.name}: cannot connect over SSH ({error}); check the address, "
            "user, key and known_hosts of this host.",
        )

    def operation_host_start(self, state, host, op_hash):
        found = self.step(state, host, op_hash)
        if found is not None:
            step, name, count = found
            self._update(host, current=f"{name} ({step}/{count})")

    def operation_host_success(self, state, host, op_hash, retry_count=0):
        self._update(host)
        described = changes.ran(state, host, op_hash)  # from the facts the operation read
        if described:
            self.planned.setdefault(host.name, []).append(described)
        release_operation(state, host, op_hash)  # a fleet's runs keep only what reports need

    def operation_host_error(self, state, host, op_hash, retry_count=0, max_retries=0):
        name = self.name(state, host, op_hash)
        self._update(host, status="failed", current=f"failed: {name}")
        self.failed_ops[host.name] = op_hash  # its output is complete only after this call


def _command_error(state, host, op_hash, name: str) -> str:
    """One sentence from a failed command's output: the apt lock holder, or the last error."""
    if _connection_lost(host):
        return (
            f"{host.name}: the SSH connection was lost during {name}; nothing more ran on this "
            "host. Rerun once it is back: an interrupted install is repaired."
        )
    out, err = op_output(state, host, op_hash)
    lock = [line for line in out + err if "Could not get lock" in line]
    if lock:  # apt names the holder while it waits: "... It is held by process 185 (python3)"
        detail = lock[-1].split("Could not get lock", 1)[1].rstrip(". ")
        return (
            f"{host.name}: {name} failed: could not get lock{detail}; let it finish or "
            "raise docker_apt_lock_timeout."
        )
    lines = [line.strip() for line in err if line.strip()]
    own = [line for line in lines if line.startswith(f"{host.name}: ")]
    if own:  # a refusal: the operation's own sentence
        return own[-1]
    errors = [line for line in lines if line.startswith("E:")]
    detail = (errors or lines or ["the command failed"])[0 if errors else -1]
    return f"{host.name}: {name} failed: {detail.rstrip('.')}."


def run_deploy(
    fleet: Fleet,
    deploy: Callable[[], None],
    command: str,
    dry: bool = False,
    parallel: int | None = None,
    fail_percent: int | None = None,
    progress: Progress | None = None,
    inspect: Callable[[str], dict] | None = None,
    locking: Locking | None = None,
    after: Callable[[list[str]], None] | None = None,
) -> FleetResult:
    """Connect to the fleet's hosts and run ``deploy`` on each; never raises for a host's failure.

    ``dry`` only computes what would change; ``inspect(host_name)`` gathers extra facts per host
    once the deploy is prepared (before any change), stored in ``FleetResult.facts``.
    ``locking`` holds each SSH host's lock from connecting until the run ends; ``after(names)``
    runs on the hosts that did not fail while the locks are still held. Ctrl-C (or SIGTERM
    under ``interrupt.graceful``) ends the run early: hosts in flight are marked interrupted.
    """
    started = time.monotonic()
    fleet = fleet.for_run()  # pyinfra hosts carry the state of one run
    fresh_host_keys()  # known_hosts as it is now, once per run
    logger = logging.getLogger("pyinfra")
    level = logger.level  # restored after the run: the caller's logging stays as it was
    if not logger.handlers:  # `provision -v` chose where it goes
        logger.setLevel(logging.CRITICAL)
    results = {host.name: HostResult() for host in fleet.hosts}
    facts: dict[str, dict] = {}
    config = Config(PARALLEL=parallel or len(fleet.hosts), FAIL_PERCENT=fail_percent)
    state = State(check_for_changes=dry)
    state.init(fleet.inventory, config, initial_limit=host_limit(fleet.hosts))
    planned: dict[str, list] = {}  # host -> [(call, change)]: for the change report
    recorder = _Recorder(results, progress, planned)
    state.add_callback_handler(recorder)
    ctx_state.set(state)
    notes = list(fleet.notes)
    locks: list[HostLock] = []
    interrupted = None
    try:
        _run(state, deploy, results, facts, dry, inspect, locking, locks, recorder)
        if after:
            after([name for name, result in results.items() if result.status != "failed"])
    except PyinfraError as error:  # every host failed, or --fail-percent stopped the rollout
        if "No hosts remaining" not in str(error):
            notes.append(f"rollout stopped: {error}")
    except KeyboardInterrupt:
        interrupted = interrupt.received()
        notes.append(f"interrupted by {interrupted}: hosts in flight were left where they were")
    finally:
        _count(state, fleet, recorder, dry, notes[len(fleet.notes) :], interrupted)
        for name, op_hash in recorder.failed_ops.items():
            if not results[name].error:
                host = fleet.inventory.get_host(name)
                what = recorder.name(state, host, op_hash)
                results[name].error = _command_error(state, host, op_hash, what)
        _report_changes(fleet, planned, results, dry)
        for lock in locks:
            lock.release()
        set_stage(state, "Disconnect")
        disconnect_all(state)
        logger.setLevel(level)
        gc.unfreeze()  # what _run froze is collected as usual from here on
    return FleetResult(command, results, time.monotonic() - started, dry, notes, facts, interrupted)


def _run(
    state: State, deploy, results, facts, dry: bool, inspect, locking, locks, recorder
) -> None:
    """Connect, lock, prepare each host (settings and distro errors fail only that host),
    execute. A dry run's ``recorder.planned`` receives each prepared host's operations with
    what they would change. Hosts are prepared one by one, with the snapshots of the next ones
    read meanwhile (``snapshot.reading_ahead``).

    Each prepared host is frozen out of the cyclic garbage collector's scans (``gc.freeze``,
    undone by ``run_deploy``): otherwise every full collection walks all hosts prepared so far,
    a cost that grows with the square of the fleet. Its garbage is collected first (a scan of
    that host's objects alone), or the freeze would keep it for the whole run."""
    set_stage(state, "Connect")
    connect_all(state)
    for host in state.inventory.get_active_hosts():
        _tune_socket(host)
    if locking:
        _lock(state, locking, locks, results, recorder)
    set_stage(state, "Prepare")
    for host in reading_ahead(state.inventory.get_active_hosts(), deploy):
        try:
            with ctx_host.use(host), settling(host):
                deploy()
                if inspect:  # after the deploy: its snapshot answers these facts
                    facts[host.name] = inspect(host.name)
                if dry:  # a real run describes each operation once it ran
                    recorder.planned[host.name] = changes.plan(state, host.name)
                    release_operations(state, host)  # a dry run never runs them
        except DeployError as error:
            results[host.name].status, results[host.name].error = "failed", str(error)
            state.fail_hosts({host})
        gc.collect()
        gc.freeze()
    if not dry:
        set_stage(state, "Execute")
        run_ops(state)


def _report_changes(fleet: Fleet, planned: dict, results: dict[str, HostResult], dry: bool):
    """Each host's changes in words; after a real run completed from what the host has now
    (the package versions it installed, how long a restarted daemon was down)."""
    for host in fleet.hosts:
        if host.name not in planned:
            continue
        with ctx_host.use(host):
            done = changes.changed(planned[host.name], dry)
            if not dry and host.connected:
                changes.settle(host, done)
        results[host.name].changes = changes.as_dicts(done)


def _lock(state: State, locking: Locking, locks: list[HostLock], results, recorder) -> None:
    """Take the lock of every active SSH host at once; a host whose lock stays taken fails."""
    hosts = [host for host in state.inventory.get_active_hosts() if ssh_transport(host) is not None]

    def take(host) -> None:
        lock = HostLock(host.name, ssh_transport(host), sudo=bool(host.data.get("_sudo")))
        locks.append(lock)

        def waiting(holder: str) -> None:
            recorder._update(host, current=f"waiting for the lock ({holder})")

        try:
            lock.acquire(locking.wait, locking.owner, waiting)
        except LockError as error:
            results[host.name].status, results[host.name].error = "failed", str(error)
            results[host.name].current = "locked by another run"

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        list(pool.map(take, hosts))
    failed = {host for host in hosts if results[host.name].status == "failed"}
    if failed:
        state.fail_hosts(failed)


KEEPALIVE = (15, 5, 6)  # idle s, probe interval s, probes: a dead peer is found in ~45 s


def _tune_socket(host) -> None:
    """TCP_NODELAY, so each small SSH request goes out at once (else ~40 ms per command for
    a delayed ACK), and TCP keepalive, so a host that vanishes mid-command (network cut,
    power-off) fails within a minute instead of leaving the run waiting forever."""
    sock = _socket(host)
    if sock is None:
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle, interval, count = KEEPALIVE
    for option, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
    ):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def _socket(host) -> socket.socket | None:
    """The TCP socket of ``host``'s SSH connection (``None`` through a jump host)."""
    transport = ssh_transport(host)
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        return sock
    return None


def _connection_lost(host) -> bool:
    transport = ssh_transport(host)
    return transport is not None and not transport.is_active()


def _count(
    state: State,
    fleet: Fleet,
    recorder: _Recorder,
    dry: bool,
    stopped: list[str],
    interrupted: str | None = None,
) -> None:
    """Operations and changes per host; hosts a stopped rollout never ran count as failed,
    hosts an interrupted run had not finished as interrupted."""
    for host in fleet.hosts:
        result = recorder.results[host.name]
        result.current = "done"
        recorded = calls(state, host.name)
        metas = [call.meta for call in recorded]
        for call in recorded:
            result.operations += 1
            meta = call.meta
            changed = meta.will_change if dry else (meta.is_complete() and meta.did_change())
            if changed:
                result.changed_operations += 1
                result.changed.append(call.name)
        finished = bool(metas) and all(meta.is_complete() for meta in metas)
        if result.status != "failed" and interrupted and not finished:
            result.status = "interrupted"
            result.error = f"{host.name}: interrupted by {interrupted} before it finished."
        elif result.status != "failed":
            if host in state.failed_hosts or (stopped and not result.operations):
                result.status = "failed"
                result.error = result.error or f"{host.name}: not run (the rollout stopped)."
            else:
                result.status = "changed" if result.changed_operations else "unchanged"
