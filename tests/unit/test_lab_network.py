"""The lab's firewall rules (the pure part; lab tests show hosts reach out through them)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from provision_lab.config import LabConfig
from provision_lab.network import _forward_rules


def test_the_lab_forwards_only_what_its_nat_needs():
    """Outbound from the lab subnet, replies back in, host to host; no new connection in."""
    config = LabConfig(Path("/l"), Path("/c"), ipaddress.IPv4Network("10.77.0.0/24"), "provlab0")
    rules = [" ".join(rule) for rule in _forward_rules(config)]
    tail = "-j ACCEPT -m comment --comment provision-lab-provlab0"
    assert rules == [
        f"FORWARD -i provlab0 -o provlab0 {tail}",
        f"FORWARD -i provlab0 ! -o provlab0 -s 10.77.0.0/24 {tail}",
        "FORWARD -o provlab0 ! -i provlab0 -d 10.77.0.0/24 -m conntrack --ctstate "
        f"RELATED,ESTABLISHED {tail}",
    ]
