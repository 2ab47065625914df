"""Extra lab hosts (forky, sudors): asked for by name, kept out of the default lab's groups."""

from __future__ import annotations

import dataclasses
import json

import pytest

from provision_lab.base import KINDS
from provision_lab.config import EXTRA_HOSTS, LabConfig
from provision_lab.errors import LabError
from provision_lab.inventory import lab_groups
from provision_lab.lab import Lab


@pytest.fixture
def config(tmp_path):
    return dataclasses.replace(LabConfig.from_env(), lab_dir=tmp_path / "lab")


def test_an_unknown_extra_is_refused_in_one_sentence(config):
    with pytest.raises(LabError) as refused:
        Lab(config).up(2, extras=["sid"])
    assert str(refused.value) == "no extra lab host named sid; the extras are forky, sudors."


def test_extras_have_their_own_bases_and_addresses(config):
    addresses = {config.address(extra.number) for extra in EXTRA_HOSTS.values()}
    assert len(addresses) == len(EXTRA_HOSTS)
    assert not addresses & {config.address(i) for i in range(1, 65)}
    for extra in EXTRA_HOSTS.values():
        assert KINDS[extra.kind].suite == extra.suite
        assert len(f"vb-{extra.name}-abcd") <= 15  # the veth keeps the lab's digest


def test_extras_are_only_in_their_own_group(config):
    config.lab_dir.mkdir()
    hosts = {
        "lab1": {"suite": "bookworm", "address": "10.77.0.11"},
        "lab2": {"suite": "trixie", "address": "10.77.0.12"},
        "sudors": {"kind": "trixie-sudo-rs", "suite": "trixie", "address": "10.77.0.202"},
        "forky": {"kind": "forky", "suite": "forky", "address": "10.77.0.201"},
    }
    config.state_file.write_text(json.dumps({"hosts": hosts}))
    groups = {name: [host for host, _ in members] for name, members in lab_groups(config).items()}
    assert groups == {
        "lab": ["lab1", "lab2"],
        "bookworm": ["lab1"],
        "trixie": ["lab2"],
        "extra": ["forky", "sudors"],
    }
    data = dict(lab_groups(config)["extra"])
    assert data["forky"]["lab_suite"] == "forky" and data["sudors"]["_sudo"] is True
    machine = Lab(config).machine("sudors")
    assert (machine.suite, machine.kind) == ("trixie", "trixie-sudo-rs")
    assert Lab(config).machine("lab1").kind == "bookworm"  # a state from before kinds
