"""The checks, in benchmark order, registered by the section modules (``checks`` imports
them all)."""

from __future__ import annotations

from .model import Check

CHECKS: dict[str, Check] = {}


def check(id: str, title: str, name: str, level: int, remediation: str):
    """Register the decorated ``function(state) -> Outcome`` as benchmark check ``id``."""

    def register(function):
        CHECKS[id] = Check(id, title, name, level, remediation, function)
        return function

    return register


def manual(id: str, title: str, name: str, level: int, remediation: str) -> None:
    """Register check ``id``, which the benchmark leaves to a person (listed as manual)."""
    CHECKS[id] = Check(id, title, name, level, remediation)


def all_checks() -> list[Check]:
    """Every registered check, in benchmark order."""
    return sorted(CHECKS.values(), key=lambda c: tuple(int(part) for part in c.id.split(".")))
