"""What a check is and what it found: benchmark number, title, level, result, evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PASS, FAIL, NOT_APPLICABLE, MANUAL, WAIVED = "pass", "fail", "not applicable", "manual", "waived"
RESULTS = (PASS, FAIL, NOT_APPLICABLE, MANUAL, WAIVED)
EVIDENCE_MAX = 300  # characters of host data kept per finding


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: a result and the evidence seen on the host."""

    result: str
    evidence: str = ""


@dataclass(frozen=True)
class Check:
    """One benchmark recommendation: ``run(state)`` gives its ``Outcome`` (``None``: manual)."""

    id: str
    title: str
    name: str  # short, for summaries: "live-restore"
    level: int
    remediation: str
    run: Callable | None = None

    @property
    def manual(self) -> bool:
        return self.run is None

    @property
    def section(self) -> str:
        return self.id.split(".")[0]


@dataclass(frozen=True)
class Finding:
    """A check's result on one host."""

    check: Check
    result: str
    evidence: str = ""
    waiver: str | None = None  # the reason, when waived
    waived_result: str | None = None  # what the check found under its waiver

    def as_dict(self) -> dict:
        data = {
            "id": self.check.id,
            "title": self.check.title,
            "level": self.check.level,
            "result": self.result,
            "evidence": self.evidence,
            "remediation": self.check.remediation,
        }
        if self.waiver is not None:
            data["waiver"] = {"reason": self.waiver, "result": self.waived_result}
        return data


def passed(evidence: str = "") -> Outcome:
    return Outcome(PASS, clip(evidence))


def failed(evidence: str) -> Outcome:
    return Outcome(FAIL, clip(evidence))


def not_applicable(evidence: str) -> Outcome:
    return Outcome(NOT_APPLICABLE, clip(evidence))


def manual(evidence: str) -> Outcome:
    return Outcome(MANUAL, clip(evidence))


def clip(text: str) -> str:
    """``text`` on one line, at most ``EVIDENCE_MAX`` characters (host data is untrusted)."""
    line = " ".join(text.split())
    return line if len(line) <= EVIDENCE_MAX else line[: EVIDENCE_MAX - 1] + "…"
