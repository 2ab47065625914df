"""``--json`` on lab hosts: one JSON document on stdout, whatever the mode of the run."""

from __future__ import annotations

import json

from .conftest import INVENTORY, provision


def test_a_batched_apply_prints_one_json_document(lab, tmp_path):
    report = tmp_path / "rollout.json"
    args = ("apply", "-i", INVENTORY, "--limit", "lab1", "--batch", "1", "--json")
    result = provision(*args, "--report", str(report))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    document = json.loads(result.stdout)  # the whole of stdout: no table beside it
    assert document == json.loads(report.read_text())
    assert document["rollout"]["batches"] == [["lab1"]]
    assert document["hosts"]["lab1"]["state"] == "done"
    assert document["hosts"]["lab1"]["verify"] == "passed"
    assert "Traceback" not in result.stderr
