"""``provision verify`` and ``audit``: checks of the fleet that change nothing."""

from __future__ import annotations

import click

from .common import finish, load_fleet, table
from .options import (
    DATA,
    EXCLUDE,
    INVENTORY,
    JSON,
    JUNIT,
    LIMIT,
    PARALLEL,
    PROFILE,
    REPORT,
    SHARD,
    VERBOSE,
)


@click.command()
@INVENTORY
@LIMIT
@EXCLUDE
@PARALLEL
@SHARD
@DATA
@PROFILE
@REPORT
@JUNIT
@JSON
@VERBOSE
def verify(
    inventory,
    limit,
    exclude,
    parallel,
    shard_spec,
    data,
    profile,
    report_file,
    junit_file,
    as_json,
):
    """Run the verification suite (testinfra) on every selected host."""
    from provision.core import interrupt
    from provision.report import documents
    from provision.report import tables as report
    from provision.verify.run import verify as run_verify

    loaded = load_fleet(
        inventory,
        limit,
        exclude,
        shard_spec,
        as_json,
        data,
        profile,
        report_file=report_file,
        junit_file=junit_file,
    )
    with interrupt.graceful():
        result = run_verify(loaded.fleet, parallel, loaded.profile.suites)
        finish(
            result,
            as_json,
            table(report.verify_table),
            report_file,
            junit_file,
            documents.verify_junit,
        )


@click.command()
@INVENTORY
@LIMIT
@EXCLUDE
@PARALLEL
@DATA
@REPORT
@JUNIT
@click.option(
    "--prometheus",
    "prometheus_file",
    type=click.Path(dir_okay=False),
    help="Write the results in Prometheus' text format (node_exporter's textfile collector).",
)
@JSON
@VERBOSE
def audit(
    inventory, limit, exclude, parallel, data, report_file, junit_file, prometheus_file, as_json
):
    """Audit every selected host against the CIS Docker Benchmark (sections 1, 2, 3, 5)."""
    from provision.audit import report as audit_report
    from provision.audit.runner import audit as run_audit
    from provision.core import interrupt, redact
    from provision.report import tables as report

    loaded = load_fleet(
        inventory,
        limit,
        exclude,
        as_json=as_json,
        data=data,
        report_file=report_file,
        junit_file=junit_file,
        prometheus_file=prometheus_file,
    )

    def show(result):
        report.print_table(audit_report.table(result))
        for line in audit_report.summary(result):
            click.echo(redact.text(line))

    def prometheus(result):
        if prometheus_file:
            audit_report.write_prometheus(prometheus_file, result)

    with interrupt.graceful():
        result = run_audit(loaded.fleet, loaded.settings, parallel)
        finish(result, as_json, show, report_file, junit_file, audit_report.junit, prometheus)


COMMANDS = (verify, audit)
