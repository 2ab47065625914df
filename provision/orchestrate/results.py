"""Per-host results of a fleet run and their summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class HostResult:
    """What happened on one host."""

    status: str = "unchanged"  # changed | unchanged | failed | interrupted
    operations: int = 0
    changed_operations: int = 0
    duration_s: float = 0.0
    error: str | None = None
    changed: list[str] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)  # per operation: provision.core.changes
    current: str = "waiting"

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("current")
        data["duration_s"] = round(self.duration_s, 3)
        return data


@dataclass
class FleetResult:
    """The outcome of ``apply`` or ``uninstall`` over the selected hosts."""

    command: str
    hosts: dict[str, HostResult]
    duration_s: float = 0.0
    dry: bool = False
    notes: list[str] = field(default_factory=list)
    facts: dict[str, dict] = field(default_factory=dict)
    interrupted: str | None = None  # the signal that stopped the run (SIGINT, SIGTERM)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(
            result.status not in ("failed", "interrupted") for result in self.hosts.values()
        )

    def summary(self) -> dict[str, int]:
        counts = {"hosts": len(self.hosts), "changed": 0, "unchanged": 0, "failed": 0}
        for result in self.hosts.values():
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "dry": self.dry,
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary(),
            "notes": self.notes,
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            **({"facts": self.facts} if self.facts else {}),
            "hosts": {name: result.as_dict() for name, result in self.hosts.items()},
        }
