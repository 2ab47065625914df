"""One lab host: an overlay root over a cached base, booted with systemd-nspawn."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .config import LabConfig
from .errors import LabError
from .first_contact import FirstContact
from .system import cmdline, container_inits_under, process_alive, run, terminate, unmount_all

NETWORK_UNIT = """\
[Unit]
Description=Static address of this lab host
DefaultDependencies=no
After=systemd-udevd.service
Before=network-online.target ssh.service
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link set host0 up
ExecStart=/sbin/ip addr replace {address}/{prefix} dev host0
ExecStart=/sbin/ip route replace default via {gateway}

[Install]
WantedBy=multi-user.target
"""

SSHD_CONFIG = "PermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
# Timers that would take the apt lock at random moments; the lock tests inject one on purpose.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "getty@tty1.service",
    "systemd-modules-load.service",  # the host kernel has its modules; none load in here
)


@dataclass
class Machine:
    """A lab host and the files that make it up under ``lab_dir/machines/NAME``."""

    config: LabConfig
    name: str
    suite: str
    address: str
    pid: int | None = None
    kind: str = ""  # the base it is made from (``provision_lab.base.KINDS``); default its suite

    def __post_init__(self) -> None:
        self.kind = self.kind or self.suite

    @property
    def unit_name(self) -> str:
        """The nspawn machine name: unique per lab, so labs side by side get distinct veths."""
        digest = hashlib.sha256(str(self.config.lab_dir).encode()).hexdigest()[:4]
        return f"{self.name}-{digest}"

    @property
    def veth(self) -> str:
        return f"vb-{self.unit_name}"[:15]

    @property
    def dir(self) -> Path:
        return self.config.hosts_dir / self.name

    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    def is_running(self) -> bool:
        """True when our systemd-nspawn process for this host is alive."""
        return process_alive(self.pid) and any(
            arg == f"--machine={self.unit_name}" for arg in cmdline(self.pid or 0)
        )

    def create(
        self,
        base: Path,
        authorized_key: str,
        host_key: Path,
        first_contact: FirstContact | None = None,
    ) -> None:
        """Mount a fresh overlay over ``base`` and write this host's identity into it.

        With ``first_contact`` the host is as fresh as a new server: only that user logs in,
        with a password, and there is no login user, key or sudo rule of the lab's yet.
        """
        self.destroy()
        for sub in ("upper", "work", "root", "docker", "data"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={base},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
                str(self.root),
            ]
        )
        self._write_identity(authorized_key, host_key, first_contact)

    def _write_identity(
        self, authorized_key: str, host_key: Path, first_contact: FirstContact | None = None
    ) -> None:
        root, user = self.root, self.config.user
        (root / "etc/hostname").write_text(self.name + "\n")
        (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {self.name}\n")
        (root / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
        unit = root / "etc/systemd/system/provision-lab-net.service"
        unit.write_text(
            NETWORK_UNIT.format(
                address=self.address,
                prefix=self.config.subnet.prefixlen,
                gateway=self.config.gateway,
            )
        )
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        _symlink("/etc/systemd/system/provision-lab-net.service", wants / unit.name)
        for masked in MASKED_UNITS:
            _symlink("/dev/null", root / "etc/systemd/system" / masked)
        for old in (root / "etc/ssh").glob("ssh_host_*"):
            old.unlink()
        shutil.copy(host_key, root / "etc/ssh/ssh_host_ed25519_key")
        shutil.copy(host_key.with_suffix(".pub"), root / "etc/ssh/ssh_host_ed25519_key.pub")
        os.chmod(root / "etc/ssh/ssh_host_ed25519_key", 0o600)
        (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
        if first_contact is not None:
            first_contact.prepare(root)
            return
        (root / "etc/ssh/sshd_config.d/provision-lab.conf").write_text(SSHD_CONFIG)
        run(["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", user])
        sudoers = root / f"etc/sudoers.d/{user}"
        sudoers.write_text(f"{user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        os.chmod(sudoers, 0o440)
        ssh_dir = root / f"home/{user}/.ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text(authorized_key)
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        ids = run(["chroot", str(root), "id", "-u", user]).stdout.strip()
        for path in (ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(path, int(ids), int(ids))

    @property
    def cgroup(self) -> Path | None:
        """A cgroup of this host's own on the unified hierarchy, so that hosts started side by
        side never share (and race on) one cgroup tree; ``None`` where there is none."""
        for base in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
            if (base / "cgroup.controllers").exists():
                own = Path("/proc/self/cgroup").read_text().split("0::", 1)[-1].split()[0]
                return base / own.lstrip("/") / "provision-lab" / self.unit_name
        return None

    def start(self) -> None:
        """Boot the host with systemd as PID 1 in its own network namespace and cgroup."""
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        cgroup = self.cgroup
        try:
            if cgroup:
                cgroup.mkdir(parents=True, exist_ok=True)
        except OSError:
            cgroup = None

        def enter_cgroup() -> None:  # runs in the child, before systemd-nspawn starts
            if cgroup:
                (cgroup / "cgroup.procs").write_text("0")

        (self.dir / "data").mkdir(exist_ok=True)  # hosts made before /srv/data existed
        with open(self.console_log, "wb") as log:
            process = subprocess.Popen(
                [
                    "systemd-nspawn",
                    "--quiet",
                    "-D",
                    str(self.root),
                    "--boot",
                    "--register=no",
                    "--keep-unit",
                    f"--machine={self.unit_name}",
                    f"--network-bridge={self.config.bridge}",
                    "--resolv-conf=copy-host",
                    "--capability=all",
                    "--system-call-filter=add_key keyctl request_key bpf",
                    f"--bind={self.dir / 'docker'}:/var/lib/docker",
                    f"--bind={self.dir / 'data'}:/srv/data",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=enter_cgroup,
            )
        self.pid = process.pid
        if process.poll() not in (None, 0):
            raise LabError(
                f"systemd-nspawn exited at once for {self.name}; see {self.console_log}."
            )

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the host down cleanly (SIGTERM to nspawn), killing what remains."""
        pids = [self.pid] if self.is_running() else []
        terminate(pids, timeout)
        if self.dir.exists():
            terminate(container_inits_under(self.dir), 0.5)  # orphans: nothing to shut down
        self.pid = None

    def power_off(self, timeout: float = 10.0) -> None:
        """Cut the power: every process of the host killed at once, no shutdown; the disk stays."""
        cgroup = self.cgroup
        if cgroup and (cgroup / "cgroup.kill").exists():
            (cgroup / "cgroup.kill").write_text("1")
        else:  # kernels before 5.14: the container's init first, then nspawn
            for pid in [*container_inits_under(self.dir), self.pid]:
                if pid and process_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.is_running() or container_inits_under(self.dir):
            if time.monotonic() > deadline:
                raise LabError(f"{self.name} still runs {timeout:.0f} s after its power was cut.")
            time.sleep(0.05)
        self.pid = None
        while self.cgroup and self.cgroup.exists():  # dying processes keep it busy for a moment
            self._remove_cgroup()
            if time.monotonic() > deadline:
                raise LabError(f"the cgroup of {self.name} stays busy after its power was cut.")
            time.sleep(0.05)
        run(["ip", "link", "del", self.veth], check=False)

    @property
    def legacy_cgroup(self) -> Path | None:
        """The twin systemd-nspawn makes in the named ``systemd`` hierarchy of a hybrid host."""
        base = Path("/sys/fs/cgroup/systemd")
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.split(":")[1:2] == ["name=systemd"] and (base / "cgroup.procs").exists():
                own = line.split(":", 2)[2].strip()
                return base / own.lstrip("/") / "provision-lab" / self.unit_name
        return None

    def _remove_cgroup(self) -> None:
        for cgroup in (self.cgroup, self.legacy_cgroup):
            if cgroup and cgroup.exists():
                _remove_cgroup_tree(cgroup)
                try:
                    cgroup.parent.rmdir()  # the labs' common parent, once no host is left
                except OSError:
                    pass

    def destroy(self) -> None:
        """Stop the host and remove its files: the next ``create`` starts from the base."""
        self.stop()
        self._remove_cgroup()
        veth = Path(f"/sys/class/net/{self.veth}")
        if veth.exists():  # left behind when nspawn itself was killed
            run(["ip", "link", "del", veth.name], check=False)
        if self.dir.exists():
            unmount_all(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir.exists():
            raise LabError(f"could not remove {self.dir}; is something still using it?")


def _remove_cgroup_tree(top: Path) -> None:
    """Remove an empty cgroup tree, deepest first."""
    for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [top]:
        if path.is_dir():
            try:
                path.rmdir()
            except OSError:
                pass


def _symlink(target: str, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)
