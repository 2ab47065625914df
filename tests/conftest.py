"""Test-suite wide rules: lab tests run last-but-teardown, and may not be skipped in CI."""

from __future__ import annotations

import os

import pytest

REQUIRE_LAB = "PROVISION_REQUIRE_LAB"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Run unit tests first, lab tests next, and the lab teardown tests at the very end."""

    def order(item):
        if item.get_closest_marker("lab_teardown"):
            return 2
        return 1 if item.get_closest_marker("lab") else 0

    items.sort(key=order)


def pytest_configure(config):
    config.addinivalue_line("markers", "lab_teardown: stops or breaks the lab; runs last")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "lab" in getattr(report, "keywords", {})
    ]
    if skipped and os.environ.get(REQUIRE_LAB):
        terminalreporter.write_line(
            f"{len(skipped)} lab tests were skipped but {REQUIRE_LAB} is set: failing the run.",
            red=True,
        )


def pytest_sessionfinish(session, exitstatus):
    if not os.environ.get(REQUIRE_LAB):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = [
        r
        for r in (reporter.stats.get("skipped", []) if reporter else [])
        if "lab" in getattr(r, "keywords", {})
    ]
    if skipped and session.exitstatus == 0:
        session.exitstatus = 1
