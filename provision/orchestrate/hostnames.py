"""Host names said briefly: ``web1–web50, db1, db3`` for messages about many hosts."""

from __future__ import annotations

import re
from collections.abc import Iterable

NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")
SHOWN = 6  # runs named before "and N more"


def ranges(names: Iterable[str], shown: int = SHOWN) -> str:
    """``names`` with runs of consecutive numbers joined (``web1–web3``), in first-seen order;
    beyond ``shown`` runs, how many hosts more."""
    runs: list[list[str]] = []
    for name in dict.fromkeys(names):
        if runs and _follows(runs[-1][-1], name):
            runs[-1].append(name)
        else:
            runs.append([name])
    said = [run[0] if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs[:shown]]
    rest = sum(len(run) for run in runs[shown:])
    return ", ".join(said) + (f" and {rest} more host{'s' * (rest > 1)}" if rest else "")


def _follows(before: str, name: str) -> bool:
    """``name`` is ``before`` with the next number (``web9`` → ``web10``, ``web09`` → ``web10``)."""
    a, b = NUMBERED.match(before), NUMBERED.match(name)
    if not (a and b) or (a[1], a[3]) != (b[1], b[3]) or int(b[2]) != int(a[2]) + 1:
        return False
    return len(a[2]) == len(b[2]) or not (a[2].startswith("0") or b[2].startswith("0"))


def grouped(problems: Iterable[tuple[str, str]]) -> list[str]:
    """``(host, problem)`` pairs as one ``hosts: problem`` line per problem, in first-seen order."""
    hosts: dict[str, list[str]] = {}
    for host, problem in problems:
        hosts.setdefault(problem, []).append(host)
    return [f"{ranges(names)}: {problem}" for problem, names in hosts.items()]
