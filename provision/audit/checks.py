"""Running every check on one host's state, waivers applied."""

from __future__ import annotations

from collections.abc import Mapping

from . import section1, section2, section3, section5  # noqa: F401 (they register their checks)
from .model import FAIL, MANUAL, WAIVED, Finding, clip
from .registry import all_checks
from .state import HostState


def evaluate(state: HostState, waivers: Mapping[str, str] | None = None) -> list[Finding]:
    """Every check's finding on ``state``, in benchmark order; a waived check is reported as
    waived, with its reason and what it found."""
    waivers = waivers or {}
    findings = []
    for check in all_checks():
        if check.manual:
            result, evidence = MANUAL, "the benchmark leaves this check to a person"
        else:
            try:
                outcome = check.run(state)
                result, evidence = outcome.result, outcome.evidence
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                # what a host sent is untrusted: a shape nobody expected fails the check
                result, evidence = FAIL, clip(f"unexpected host data ({error})")
        if check.id in waivers:
            findings.append(Finding(check, WAIVED, evidence, str(waivers[check.id]), result))
        else:
            findings.append(Finding(check, result, evidence))
    return findings


def unknown_waivers(waivers: Mapping[str, str]) -> list[str]:
    """The check numbers of ``waivers`` that are no check of this audit."""
    known = {check.id for check in all_checks()}
    return sorted(set(waivers) - known)
