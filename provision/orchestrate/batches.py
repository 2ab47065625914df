"""``--batch N|P%``: how many hosts a rolling change takes at a time."""

from __future__ import annotations

import math

from provision.core.errors import UsageError


def batch_size(text: str, hosts: int) -> int:
    """Hosts per batch for ``--batch`` given as a count (``5``) or a share of the fleet (``25%``,
    rounded up, at least one host)."""
    value = text.strip()
    percent = value.endswith("%")
    number = value[:-1] if percent else value
    if number.isdigit() and int(number) >= 1 and (not percent or int(number) <= 100):
        if percent:
            return max(1, math.ceil(hosts * int(number) / 100))
        return int(number)
    raise UsageError(
        f"--batch {text} is neither a host count (e.g. 5) nor a percentage of the fleet from "
        "1% to 100% (e.g. 25%); fix the value."
    )


def batches(names: list[str], size: int) -> list[list[str]]:
    """``names`` in consecutive batches of ``size`` (the last one may be smaller)."""
    return [names[start : start + size] for start in range(0, len(names), size)]
