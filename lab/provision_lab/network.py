"""The lab bridge and its NAT to the outside world."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from .config import LabConfig
from .errors import LabError
from .system import run

COMMENT = "provision-lab"  # every rule carries "provision-lab-BRIDGE", so labs side by side


def _tag(config: LabConfig) -> str:
    return f"{COMMENT}-{config.bridge}"


IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def _nat_rule(config: LabConfig) -> list[str]:
    return [
        "POSTROUTING",
        "-s",
        str(config.subnet),
        "!",
        "-o",
        config.bridge,
        "-j",
        "MASQUERADE",
        "-m",
        "comment",
        "--comment",
        _tag(config),
    ]


def _forward_rules(config: LabConfig) -> list[list[str]]:
    """What the lab's NAT needs: hosts to each other, the lab's own addresses out, and the
    replies back in; nothing from outside may start a connection to a lab host."""
    tail = ["-j", "ACCEPT", "-m", "comment", "--comment", _tag(config)]
    bridge, subnet = config.bridge, str(config.subnet)
    return [
        ["FORWARD", "-i", bridge, "-o", bridge, *tail],
        ["FORWARD", "-i", bridge, "!", "-o", bridge, "-s", subnet, *tail],
        [
            "FORWARD",
            "-o",
            bridge,
            "!",
            "-i",
            bridge,
            "-d",
            subnet,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            *tail,
        ],
    ]


def bridge_exists(config: LabConfig) -> bool:
    return Path(f"/sys/class/net/{config.bridge}").exists()


def check_subnet_free(config: LabConfig) -> None:
    """Refuse a subnet that another interface of this machine already uses."""
    links = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout)
    for link in links:
        if link.get("ifname") == config.bridge:
            continue
        for info in link.get("addr_info", []):
            network = ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
            if network.overlaps(config.subnet):
                raise LabError(
                    f"the lab subnet {config.subnet} overlaps {network} on {link['ifname']}; "
                    "set PROVISION_LAB_SUBNET to a free /24 (for example 10.78.0.0/24)."
                )


def up(config: LabConfig) -> str:
    """Create the bridge, enable forwarding and NAT; return the previous ip_forward value."""
    check_subnet_free(config)
    if not bridge_exists(config):
        run(["ip", "link", "add", config.bridge, "type", "bridge"])
    address = f"{config.gateway}/{config.subnet.prefixlen}"
    if address not in run(["ip", "-4", "addr", "show", "dev", config.bridge]).stdout:
        run(["ip", "addr", "add", address, "dev", config.bridge])
    run(["ip", "link", "set", config.bridge, "up"])
    previous = IP_FORWARD.read_text().strip()
    IP_FORWARD.write_text("1\n")
    _ensure_rule("nat", _nat_rule(config))
    for rule in _forward_rules(config):
        _ensure_rule("filter", rule, insert=True)
    return previous


def down(config: LabConfig, ip_forward: str | None = None) -> None:
    """Remove every rule tagged by the lab, the bridge, and restore ip_forward."""
    for table in ("nat", "filter"):
        for rule in tagged_rules(table, _tag(config)):
            run(["iptables", "-t", table, "-D", *rule], check=False)
    if bridge_exists(config):
        run(["ip", "link", "del", config.bridge], check=False)
    others = tagged_rules("nat")  # another lab still needs forwarding
    if ip_forward in ("0", "1") and not others:
        IP_FORWARD.write_text(ip_forward + "\n")


def tagged_rules(table: str, tag: str = COMMENT) -> list[list[str]]:
    """Rules (as iptables arguments, without -A) whose comment starts with ``tag``."""
    rules = []
    for line in run(["iptables", "-t", table, "-S"], check=False).stdout.splitlines():
        if line.startswith("-A ") and f"--comment {tag}" in line:
            rules.append(line.split()[1:])
    return rules


def _ensure_rule(table: str, rule: list[str], insert: bool = False) -> None:
    if run(["iptables", "-t", table, "-C", *rule], check=False).returncode != 0:
        run(["iptables", "-t", table, "-I" if insert else "-A", *rule])
