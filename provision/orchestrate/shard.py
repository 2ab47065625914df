"""``--shard K/N``: a stable slice of the selected hosts, so several controllers (the jobs of a
CI matrix) split one fleet between them.

Hosts are sorted by name and dealt out in turn: shard K of N gets the hosts at positions
K-1, K-1+N, K-1+2N, ... Every host is in exactly one shard, shard sizes differ by at most
one, and the slice depends only on the host names, never on inventory order or on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from provision.core.errors import UsageError


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def take(self, names: list[str]) -> list[str]:
        """This shard's share of ``names``, in their original order."""
        mine = set(sorted(names)[self.index - 1 :: self.count])
        return [name for name in names if name in mine]


def parse(text: str) -> Shard:
    """``"K/N"`` with 1 ≤ K ≤ N."""
    index, sep, count = text.partition("/")
    if sep and index.strip().isdigit() and count.strip().isdigit():
        shard = Shard(int(index), int(count))
        if 1 <= shard.index <= shard.count:
            return shard
    raise UsageError(
        f"--shard {text} is not K/N with 1 <= K <= N; pass e.g. --shard 2/4 for the second of "
        "four shards."
    )


def slice_fleet(fleet, shard: Shard | None):
    """``fleet`` with only this shard's hosts (all of them without a shard)."""
    from .inventory import Fleet

    if shard is None:
        return fleet
    names = set(shard.take([host.name for host in fleet.hosts]))
    hosts = [host for host in fleet.hosts if host.name in names]
    return Fleet(fleet.path, fleet.inventory, hosts, fleet.notes)


def slice_or_exit(fleet, spec: str | None, as_json: bool = False):
    """The shard ``spec`` of ``fleet``; a shard left with no host has nothing to do (exit 0,
    said in a line or, with ``as_json``, as a JSON document with no hosts)."""
    if spec is None:
        return fleet
    part = slice_fleet(fleet, parse(spec))
    if not part.hosts:
        import json

        import click

        note = f"shard {spec}: no hosts (of {len(fleet.hosts)} selected); nothing to do."
        empty = {"shard": spec, "summary": {"hosts": 0}, "notes": [note], "hosts": {}}
        click.echo(json.dumps(empty, indent=2) if as_json else note)
        raise SystemExit(0)
    return part
