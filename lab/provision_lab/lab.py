"""The lab: throwaway Debian hosts on a bridge, and the stand-in Docker repository they use.

``Lab.up`` is idempotent (running hosts are left running) and ``Lab.down`` removes every
process, mount, bridge and firewall rule the lab created, also after a crash.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from provision.orchestrate.progress import SILENT

from . import base, network, server
from .config import EXTRA_HOSTS, SUPPORTED_SUITES, LabConfig
from .debian import write_atomic
from .errors import LabError
from .first_contact import FirstContact, wait_for_login
from .limits import raise_inotify_limits
from .machine import Machine
from .ssh import ensure_client_key, ensure_host_key, wait_for_ssh, write_client_files
from .system import (
    cmdline,
    container_inits_under,
    pids_matching,
    require_root,
    require_tools,
    terminate,
)


@dataclass(frozen=True)
class HostStatus:
    """One row of ``provision lab status``."""

    name: str
    suite: str
    address: str
    state: str


class Lab:
    """Lab hosts and services described by one ``LabConfig``."""

    def __init__(self, config: LabConfig | None = None):
        self.config = config or LabConfig.from_env()
        self.state = self._load_state()

    # State file
    def _load_state(self) -> dict:
        try:
            return json.loads(self.config.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"hosts": {}}

    def _save_state(self) -> None:
        self.config.lab_dir.mkdir(parents=True, exist_ok=True)
        state = json.dumps(self.state, indent=2, sort_keys=True).encode()
        write_atomic(self.config.state_file, state)

    def machine(self, name: str) -> Machine:
        """The machine recorded under ``name``."""
        try:
            info = self.state["hosts"][name]
        except KeyError:
            known = ", ".join(sorted(self.state["hosts"])) or "none; run `provision lab up`"
            raise LabError(f"no lab host named {name!r} (lab hosts: {known}).") from None
        return Machine(
            self.config, name, info["suite"], info["address"], info.get("pid"), info.get("kind", "")
        )

    def machines(self) -> list[Machine]:
        return [self.machine(name) for name in sorted(self.state["hosts"], key=_host_order)]

    # Commands
    def up(
        self,
        count: int = 2,
        suites: list[str] | None = None,
        board=SILENT,
        extras: list[str] | tuple[str, ...] = (),
    ) -> list[HostStatus]:
        """Start ``count`` hosts lab1..labN, alternating ``suites``, and the ``extras``
        (``EXTRA_HOSTS``) named; keep running ones.

        ``board`` (an ``orchestrate.progress.Board``) is told what is being built and booted.
        """
        suites = list(suites or self.config.suites)
        unknown = sorted(set(suites) - set(SUPPORTED_SUITES))
        if unknown or count < 1:
            raise LabError(
                f"unsupported lab suite or count: {unknown or count}; suites are "
                f"{', '.join(SUPPORTED_SUITES)} and --hosts must be at least 1."
            )
        strangers = sorted(set(extras) - set(EXTRA_HOSTS))
        if strangers:
            raise LabError(
                f"no extra lab host named {', '.join(strangers)}; the extras are "
                f"{', '.join(EXTRA_HOSTS)}."
            )
        require_root()
        require_tools()
        wanted = [
            Machine(self.config, f"lab{i}", suites[(i - 1) % len(suites)], self.config.address(i))
            for i in range(1, count + 1)
        ]
        for name in dict.fromkeys(extras):
            extra = EXTRA_HOSTS[name]
            address = self.config.address(extra.number)
            wanted.append(Machine(self.config, name, extra.suite, address, kind=extra.kind))
        self._check_kinds(wanted)
        self.config.lab_dir.mkdir(parents=True, exist_ok=True)
        raise_inotify_limits()
        bases, repo = self._build_inputs({machine.kind for machine in wanted}, board)
        self._start_network_and_server(repo)
        key = ensure_client_key(self.config).with_suffix(".pub").read_text()
        started = []
        for machine in wanted:
            current = self.state["hosts"].get(machine.name)
            if current and self.machine(machine.name).is_running():
                continue
            board.set(machine.name, f"creating its {machine.kind} root")
            machine.create(bases[machine.kind], key, ensure_host_key(self.config, machine.name))
            board.set(machine.name, "booting")
            machine.start()
            self._record(machine)
            started.append(machine)
        write_client_files(self.config, {m.name: m.address for m in self.machines()})

        def boot(machine: Machine) -> None:
            board.set(machine.name, "booting: waiting for SSH and systemd")
            try:
                wait_for_ssh(self.config, machine.name, machine.address, machine.is_running)
            finally:
                board.done(machine.name)

        with ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
            list(pool.map(boot, started))
        return self.status()

    def remove(self, name: str) -> None:
        """Stop one host and remove it and its files from the lab (an extra no test needs)."""
        self.machine(name).destroy()
        del self.state["hosts"][name]
        self._save_state()
        write_client_files(self.config, {m.name: m.address for m in self.machines()})

    def down(self) -> None:
        """Stop every host and service and remove what the lab created; safe to repeat."""
        require_root()
        machines = self.machines() if self.config.state_file.exists() else []
        with ThreadPoolExecutor(max_workers=max(1, len(machines))) as pool:
            list(pool.map(Machine.stop, machines))
        terminate(pids_matching(self._is_lab_nspawn), 20)
        terminate(container_inits_under(self.config.hosts_dir), 0.5)  # left by a killed nspawn
        server.stop(self.config, self.state.get("server_pid"))
        for machine in [*machines, *self._orphan_machines()]:
            machine.destroy()
        shutil.rmtree(self.config.hosts_dir, ignore_errors=True)
        shutil.rmtree(self.config.www_dir, ignore_errors=True)
        network.down(self.config, self.state.get("ip_forward"))
        for path in (
            self.config.state_file,
            self.config.ssh_config,
            self.config.hosts_file,
            self.config.known_hosts,
            self.config.lab_dir / "www.log",
        ):
            path.unlink(missing_ok=True)
        self.state = {"hosts": {}}

    def reset(self, name: str, first_contact: FirstContact | None = None) -> HostStatus:
        """Replace one host with a fresh one from its base (same name, address and host key).

        With ``first_contact`` it is a server before first contact: only that user may log in,
        with a password (``provision bootstrap`` makes the login user).
        """
        old = self.machine(name)
        machine = Machine(self.config, name, old.suite, old.address, kind=old.kind)
        old.destroy()
        key = ensure_client_key(self.config).with_suffix(".pub").read_text()
        host_key = ensure_host_key(self.config, name)
        machine.create(base.build(self.config, old.kind), key, host_key, first_contact)
        machine.start()
        self._record(machine)
        if first_contact is None:
            wait_for_ssh(self.config, name, machine.address, machine.is_running)
        else:  # no login user of the lab's yet
            wait_for_login(name, machine.address, first_contact, machine.is_running)
        return next(row for row in self.status() if row.name == name)

    def power_off(self, name: str) -> None:
        """Kill a host as a power cut would (nothing shut down); ``boot`` starts it again."""
        machine = self.machine(name)
        machine.power_off()
        self._record(machine)

    def boot(self, name: str) -> HostStatus:
        """Start a stopped host again from its own disk, as it was left."""
        machine = self.machine(name)
        if not machine.is_running():
            machine.start()
            self._record(machine)
            wait_for_ssh(self.config, name, machine.address, machine.is_running)
        return next(row for row in self.status() if row.name == name)

    def status(self) -> list[HostStatus]:
        """Each recorded host with its suite, address and whether it runs."""
        return [
            HostStatus(m.name, m.suite, m.address, "running" if m.is_running() else "stopped")
            for m in self.machines()
        ]

    # Pieces
    def _check_kinds(self, wanted: list[Machine]) -> None:
        for machine in wanted:
            if machine.name not in self.state["hosts"]:
                continue
            current = self.machine(machine.name)
            if current.kind != machine.kind and current.is_running():
                raise LabError(
                    f"lab host {machine.name} runs {current.kind}, not {machine.kind}; "
                    "run `provision lab down` first."
                )

    def _build_inputs(self, kinds: set[str], board):
        from .image import build_image
        from .repo import build_repository
        from .repo.planning import repository_dir

        cache = self.config.cache_dir

        def shown(task: str, build, *args, **kwargs):
            board.set(task, "checking the cache")
            try:
                return build(*args, **kwargs)
            finally:
                board.done(task)

        with ThreadPoolExecutor(max_workers=3) as pool:
            bases = pool.submit(base.build_all, self.config, kinds, board)
            repo = pool.submit(
                shown,
                "Docker repository",
                build_repository,
                repository_dir(cache),
                cache / "debs",
                cache / "gnupg",
                mirror=self.config.mirror,
                suites=SUPPORTED_SUITES,
                say=lambda text: board.set("Docker repository", text),
            )
            image = pool.submit(
                shown,
                "container image",
                build_image,
                cache / "image",
                cache / "debs",
                mirror=self.config.mirror,
            )
            return bases.result(), (repo.result(), image.result())

    def _start_network_and_server(self, inputs) -> None:
        from .image import GREETING

        repo, image = inputs
        www = self.config.www_dir
        (www / "images").mkdir(parents=True, exist_ok=True)
        _link(www / "linux", repo.path / "linux")
        _link(www / "images" / "hello.tar", image.path)
        previous = network.up(self.config)
        self.state.setdefault("ip_forward", previous)
        if not server.is_serving(self.config, self.state.get("server_pid")):
            server.stop(self.config, None)
            self.state["server_pid"] = server.start(self.config)
        self.state["repo"] = {
            "url": self.config.repo_url,
            "fingerprint": repo.fingerprint,
            "versions": repo.versions,
        }
        self.state["image"] = {
            "url": self.config.image_url,
            "reference": image.reference,
            "sha256": image.sha256,
            "output": GREETING,
        }
        self._save_state()

    def _record(self, machine: Machine) -> None:
        self.state["hosts"][machine.name] = {
            "kind": machine.kind,
            "suite": machine.suite,
            "address": machine.address,
            "pid": machine.pid,
        }
        self._save_state()

    def _is_lab_nspawn(self, pid: int) -> bool:
        argv = cmdline(pid)
        return (
            bool(argv)
            and argv[0].endswith("systemd-nspawn")
            and any(arg.startswith(str(self.config.hosts_dir)) for arg in argv)
        )

    def _orphan_machines(self) -> list[Machine]:
        if not self.config.hosts_dir.exists():
            return []
        return [
            Machine(self.config, path.name, "", "")
            for path in self.config.hosts_dir.iterdir()
            if path.name not in self.state["hosts"]
        ]


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def _host_order(name: str) -> tuple[bool, int, str]:
    """lab1, lab2, ..., lab10, then the extras by name."""
    digits = "".join(ch for ch in name if ch.isdigit())
    return (not digits, int(digits) if digits else 0, name)
