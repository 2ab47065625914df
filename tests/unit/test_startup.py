"""Start-up: help, lab commands and argument errors answer without loading pyinfra."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("pyinfra", "pyinfra_cli", "testinfra", "paramiko", "gevent")

PROBE = """\
import json, sys
heavy = set(json.loads(sys.argv[2]))
sys.argv = ["provision", *json.loads(sys.argv[1])]
code = None
try:
    from provision.cli import main
    main()
except SystemExit as exit:
    code = exit.code
loaded = sorted({name.split(".")[0] for name in sys.modules} & heavy)
import gc
collecting = gc.isenabled() and gc.get_freeze_count() > 0
print(json.dumps({"code": code, "loaded": loaded, "gc": collecting}), file=sys.stderr)
"""


def start(tmp_path, *args: str) -> dict:
    """``provision ARGS`` in a fresh interpreter: its exit code and the heavy modules it loaded."""
    env = dict(os.environ, PROVISION_LAB_DIR=str(tmp_path / "lab"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
    )
    result = json.loads(done.stderr.strip().splitlines()[-1])
    # main() pauses garbage collection while it starts; it is on again, start-up frozen, after
    assert result.pop("gc") is True
    return result


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--help",), 0),
        (("apply", "--help"), 0),
        (("lab", "status"), 0),
        (("apply",), 2),  # no inventory
        (("apply", "-i", "x.py", "--parallel", "0"), 2),
        (("verify", "--no-such-option"), 2),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_no_pyinfra_before_a_host_is_needed(tmp_path, args, code):
    result = start(tmp_path, *args)
    assert result == {"code": code, "loaded": []}


def test_a_run_does_load_pyinfra(tmp_path):
    """The check above can fail: a command that loads an inventory imports pyinfra."""
    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = [('web1', {'docker_channel': 'nightly'})]\n")
    result = start(tmp_path, "apply", "-i", str(inventory))
    assert result["code"] == 2 and "pyinfra" in result["loaded"]


def test_collection_resumes_once_the_inventory_is_loaded(tmp_path, monkeypatch):
    """What ``load_fleet`` loaded stays out of later collections; collection is on for the run."""
    import gc

    from provision.cli.common import load_fleet
    from provision.core import startup

    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = ['web1']\n")
    frozen = gc.get_freeze_count()
    startup.starting()
    try:
        fleet = load_fleet(str(inventory), ()).fleet
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()
    assert [host.name for host in fleet.hosts] == ["web1"]


def test_a_finished_run_is_frozen_before_its_reports_are_written():
    """``finish`` freezes what the run made before the reports: no collection walks a
    finished fleet's run (about 0.05 ms per host at 5,000 hosts)."""
    import gc
    from types import SimpleNamespace

    import click

    from provision.cli.common import finish

    frozen_before = gc.get_freeze_count()
    run = [[index] for index in range(1000)]  # what a run leaves, tracked by the collector
    seen = []
    result = SimpleNamespace(ok=True, interrupted=None, as_dict=dict)
    try:
        with click.Context(click.Command("apply")), pytest.raises(click.exceptions.Exit):
            finish(result, False, lambda _: seen.append(gc.get_freeze_count()))
    finally:
        gc.unfreeze()
    assert seen and seen[0] >= frozen_before + len(run)
