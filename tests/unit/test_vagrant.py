"""The Vagrantfile and inventories/vagrant.py name the same machines, and the inventory reads
``vagrant ssh-config`` (a stand-in ``vagrant`` here)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from provision.orchestrate.inventory import load
from provision_lab.config import project_root

ROOT = project_root()
VAGRANTFILE = ROOT / "Vagrantfile"
INVENTORY = ROOT / "inventories" / "vagrant.py"


def vagrantfile_machines() -> list[str]:
    """The keys of the Vagrantfile's ``MACHINES`` hash, each defined with config.vm.define."""
    text = VAGRANTFILE.read_text()
    block = re.search(r"^MACHINES = \{(.*?)^\}", text, re.M | re.S).group(1)
    names = re.findall(r'^\s*"([a-z0-9-]+)"\s*=>', block, re.M)
    assert "config.vm.define name" in text and "MACHINES.each" in text
    return names


def fake_vagrant(tmp_path, monkeypatch, names) -> None:
    config = "".join(
        f"Host {name}\n  HostName 127.0.0.1\n  User vagrant\n  Port {2200 + i}\n"
        f'  IdentityFile "{tmp_path}/{name}/private_key"\n  IdentitiesOnly yes\n\n'
        for i, name in enumerate(names)
    )
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "private_key").write_text("key")
    (tmp_path / "ssh-config").write_text(config)
    script = tmp_path / "bin" / "vagrant"
    script.parent.mkdir()
    script.write_text(
        f'#!/bin/sh\n[ "$1" = ssh-config ] && exec cat {tmp_path}/ssh-config\nexit 1\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")


def test_the_inventory_reaches_every_machine_of_the_vagrantfile(tmp_path, monkeypatch):
    names = vagrantfile_machines()
    assert sorted(names) == ["bookworm", "jammy", "noble", "trixie"]
    fake_vagrant(tmp_path, monkeypatch, names)
    fleet = load(str(INVENTORY))
    assert sorted(host.name for host in fleet.hosts) == sorted(names)
    groups = {g: sorted(h.name for h in fleet.inventory.get_group(g)) for g in ("ubuntu", "debian")}
    assert groups == {"debian": ["bookworm", "trixie"], "ubuntu": ["jammy", "noble"]}
    noble = fleet.inventory.get_host("noble").data
    assert (noble.ssh_hostname, noble.ssh_user, noble.ssh_port) == ("127.0.0.1", "vagrant", 2201)
    assert noble.ssh_key == f"{tmp_path}/noble/private_key" and noble._sudo is True


@pytest.mark.skipif(not shutil.which("vagrant"), reason="vagrant is not installed")
def test_vagrant_validates_the_vagrantfile():
    done = subprocess.run(
        ["vagrant", "validate"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validated successfully" in done.stdout
