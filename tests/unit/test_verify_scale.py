"""verify on many hosts without a lab: the real run, pytest and testinfra, with an ``ssh`` that
prints a recorded probe answer (``bench/scale.py``'s stand-in), checked in batches of hosts and
reading the settings file once."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import pytest
from pyinfra.api import Inventory

from bench import scale
from provision.orchestrate.inventory import Fleet
from provision.verify import probe, settings
from provision.verify import run as verify_run

from .converged_probe import PLAIN, answer, converged, ok

START = verify_run._start  # the real one


def fleet_of(count: int) -> Fleet:
    inventory = Inventory(([f"host{i}" for i in range(count)], {}))
    return Fleet("test", inventory, list(inventory))


def drifted() -> str:
    """A host whose docker socket is world-readable, and nothing else wrong."""
    return answer({**converged(), "socket_stat": ok("socket root docker 666\n")})


def test_the_converged_answer_is_what_the_probe_reads_back():
    names = list(probe.commands(PLAIN))
    assert probe.parse(scale.converged_answer(), names) == converged()


def test_the_bench_passes_a_fleet_of_converged_hosts():
    figures = scale.measure_verify(3)
    assert figures["hosts"] == 3 and figures["checks_per_host"] == 24
    assert figures["cpu_s"] > 0 and figures["rss_mib"] > 0


def test_the_bench_fails_when_a_host_is_not_converged():
    answers = {"default": scale.converged_answer(), "host1": drifted()}
    with pytest.raises(SystemExit, match=r"1 did not pass: \{'host1': \['test_socket_perm"):
        scale.measure_verify(3, answers)


def checks_of(count: int, batch: int, monkeypatch) -> tuple[dict, list[list[str]]]:
    """verify's JSON (without times) on ``count`` hosts, ``host1`` drifted, ``host3`` unread,
    checked ``batch`` hosts per pytest process; and the hosts each process checked."""
    started = []

    def counting(names, *args):
        started.append(list(names))
        process = START(names, *args)
        assert "no:logging" in process.args  # no log capture around each check's phases
        return process

    monkeypatch.setattr(verify_run, "BATCH", batch)
    monkeypatch.setattr(verify_run, "_start", counting)
    answers = {"default": scale.converged_answer(), "host1": drifted(), "host3": "no probe\n"}
    with scale.ssh_answering(answers):
        document = verify_run.verify(fleet_of(count)).as_dict()
    document.pop("duration_s")
    for host in document["hosts"].values():
        host.pop("duration_s")
    return document, started


def test_a_large_fleet_is_checked_in_batches_with_the_same_results(monkeypatch):
    whole, one = checks_of(5, 500, monkeypatch)
    batched, processes = checks_of(5, 2, monkeypatch)
    assert one == [[f"host{i}" for i in range(5)]]
    assert processes == [["host0", "host1"], ["host2", "host3"], ["host4"]]
    assert batched == whole
    assert list(whole["hosts"]) == [f"host{i}" for i in range(5)]
    assert whole["summary"] == {"hosts": 5, "passed": 3, "failed": 2}
    assert whole["hosts"]["host1"]["failures"][0]["check"] == "test_socket_permissions"
    assert "could not read the host" in whole["hosts"]["host3"]["error"]


def test_each_host_is_timed_from_the_start_of_its_own_batch(monkeypatch):
    ticks = itertools.count()  # a clock that moves one second each time it is read
    monkeypatch.setattr(verify_run, "time", SimpleNamespace(monotonic=lambda: next(ticks)))
    monkeypatch.setattr(verify_run, "BATCH", 2)
    with scale.ssh_answering({"default": scale.converged_answer()}):
        hosts = verify_run.verify(fleet_of(5)).hosts
    assert {name: host.duration_s for name, host in hosts.items()} == {
        f"host{i}": 1 for i in range(5)
    }


def test_the_settings_file_is_read_once_for_all_hosts(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({f"host{i}": {"docker_users": [f"u{i}"]} for i in range(50)}))
    monkeypatch.setenv(settings.ENV, str(path))
    reads = []
    real_load = json.load
    monkeypatch.setattr(json, "load", lambda handle: reads.append(1) or real_load(handle))
    assert [settings.settings_for(f"host{i}").docker_users for i in range(50)] == [
        (f"u{i}",) for i in range(50)
    ]
    assert len(reads) == 1
    path.write_text(json.dumps({"host0": {"docker_users": ["changed"]}}))  # read again
    assert settings.settings_for("host0").docker_users == ("changed",)
