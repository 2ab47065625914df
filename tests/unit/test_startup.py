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
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
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
    return json.loads(done.stderr.strip().splitlines()[-1])


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
