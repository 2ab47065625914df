"""``provision audit`` end to end on one lab host: a fresh install's expected failures, the
hardened setting passing every automatable check of sections 1-3 it can, planted violations
failing exactly their checks, a waiver, and the Prometheus file read by a real parser."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from provision.audit.model import FAIL, MANUAL, NOT_APPLICABLE, PASS, WAIVED
from provision.audit.runner import audit
from provision.profiles import profile
from provision_lab.lab import Lab

from .conftest import INVENTORY, _lab_unavailable, apply, check, failures, fleet, provision, sh

HOST = "lab1"
HARDENED = {"docker_hardening": True, "docker_audit_rules": True}
AUDITED_FILES = {f"1.1.{n}" for n in range(3, 19)} - {"1.1.13"}  # no /etc/sysconfig on Debian
# what docker_hardening leaves off, and why: docs/audit.md
LEFT_OFF = {"2.2", "2.9", "2.12", "2.13"}
FRESH_FAILURES = AUDITED_FILES | LEFT_OFF | {"2.14", "2.15", "2.16"}
# containerd.io 2.x ships no v1 shims: their audit checks do not apply where they are absent
SHIMS = {"1.1.15": "/usr/bin/containerd-shim", "1.1.16": "/usr/bin/containerd-shim-runc-v1"}
IMAGE = "provision-audit-sleeper"
LABEL = "provision-audit"
# a container that passes every automatable check of section 5 the lab can run
COMPLIANT = (
    f"--label {LABEL} --memory 64m --cpu-shares 512 --pids-limit 50 --read-only "
    "--restart on-failure:5 --security-opt no-new-privileges --health-cmd '/usr/bin/sleep 0'"
)
TCP_DROPIN = "/etc/systemd/system/docker.service.d/provision-audit-tcp.conf"
INTRUDER = "provision-audit-intruder"


@pytest.fixture(scope="module")
def lab1():
    reason = _lab_unavailable()
    if reason:
        pytest.skip(reason)
    lab = Lab()
    lab.up(1, ["bookworm"])
    _clean(lab)
    yield lab
    _clean(lab)
    assert apply(HOST).hosts[HOST].status != "failed"


def _clean(lab: Lab) -> None:
    """No container, user or drop-in of this module's earlier runs on the host."""
    sh(
        lab,
        HOST,
        f"ids=$(sudo docker ps -aq --filter label={LABEL} 2>/dev/null); "
        '[ -z "$ids" ] || sudo docker rm -f $ids >/dev/null; '
        f"sudo userdel {INTRUDER} 2>/dev/null; "
        f"if [ -e {TCP_DROPIN} ]; then sudo rm -f {TCP_DROPIN} && sudo systemctl daemon-reload "
        "&& sudo systemctl restart docker; fi; true",
    )


def findings(**data) -> dict:
    hosts = fleet(HOST, **data)
    result = audit(hosts, hosts.settings(profile("docker").checks))
    host = result.hosts[HOST]
    assert host.error is None, host.error
    return {f.check.id: f for f in host.findings}


def results(**data) -> dict[str, str]:
    return {id: f.result for id, f in findings(**data).items()}


def failing(found: dict[str, str]) -> set[str]:
    return {id for id, result in found.items() if result == FAIL}


def test_fresh_install_fails_the_expected_checks(lab1):
    assert apply(HOST).hosts[HOST].status != "failed"
    found = results()
    absent = {
        id
        for id, path in SHIMS.items()
        if sh(lab1, HOST, f"test -e {path}", check=False).returncode
    }
    assert failing(found) == FRESH_FAILURES - absent
    assert {found[id] for id in absent} <= {NOT_APPLICABLE}
    assert found["1.1.2"] == PASS and found["3.18"] == PASS
    assert {found[id] for id in ("1.2.1", "2.1", "5.7")} == {MANUAL}
    assert found["5.5"] == NOT_APPLICABLE  # no container runs


def test_hardened_host_passes_every_automatable_check_of_sections_1_to_3(lab1):
    assert apply(HOST, **HARDENED).hosts[HOST].status != "failed"
    found = findings(**HARDENED)
    early = {id: f for id, f in found.items() if id.split(".")[0] in ("1", "2", "3")}
    assert {id for id, f in early.items() if f.result == FAIL} == LEFT_OFF
    # the lab's data root is a bind mount of the machine's disk: a filesystem of its own
    assert found["1.1.1"].result == PASS
    assert found["1.1.1"].evidence.startswith("/var/lib/docker is a mount of its own")
    # auditd cannot run in a container: the rules are checked in their files, and said so
    assert found["1.1.3"].result == PASS
    assert "rules files (auditctl cannot list)" in found["1.1.3"].evidence
    # and verify proves the hardened daemon.json and the rules file as the settings say
    verified = check(HOST, **HARDENED)
    assert verified.ok, failures(verified, HOST)


@pytest.fixture(scope="module")
def compliant(lab1):
    """The hardened host running one container that passes section 5; its audit."""
    assert apply(HOST, **HARDENED).hosts[HOST].status != "failed"
    sh(
        lab1,
        HOST,
        # an image of the host's own sleep and the libraries it needs (no registry here)
        "sudo tar -C / -ch usr/bin/sleep $(ldd /usr/bin/sleep | grep -o '/[^ ]*' | cut -c2-) "
        f'| sudo docker import -c \'CMD ["/usr/bin/sleep", "infinity"]\' - {IMAGE} '
        f">/dev/null && sudo docker run -d --name provision-audit-base {COMPLIANT} {IMAGE} "
        ">/dev/null",
    )
    found = results(**HARDENED)
    # the lab's hosts have no cgroup controllers of their own: Docker drops the limits asked
    # for, and the checks say so; no AppArmor or SELinux either
    supported = sh(
        lab1, HOST, "sudo docker info --format '{{.MemoryLimit}} {{.CPUShares}} {{.PidsLimit}}'"
    ).stdout.split()
    limits = zip(("5.11", "5.12", "5.29"), supported, strict=True)
    unlimited = {id for id, ok in limits if ok != "true"}
    section5 = {id: r for id, r in found.items() if id.startswith("5.")}
    assert {id for id, r in section5.items() if r == FAIL} == unlimited
    assert {id for id, r in section5.items() if r == NOT_APPLICABLE} == {"5.2", "5.3"}
    return lab1, found


PLANTS = {
    "privileged container": (
        f"sudo docker run -d --name provision-audit-plant --privileged {COMPLIANT} {IMAGE}",
        "sudo docker rm -f provision-audit-plant",
        {"5.5"},
    ),
    "Docker socket mounted": (
        "sudo docker run -d --name provision-audit-plant "
        f"-v /var/run/docker.sock:/var/run/docker.sock {COMPLIANT} {IMAGE}",
        "sudo docker rm -f provision-audit-plant",
        {"5.32"},
    ),
    "daemon.json mode 666": (
        "sudo chmod 666 /etc/docker/daemon.json",
        "sudo chmod 644 /etc/docker/daemon.json",
        {"3.18"},
    ),
    "a user added to the docker group behind the tool's back": (
        f"sudo useradd -M {INTRUDER} && sudo usermod -aG docker {INTRUDER}",
        f"sudo userdel {INTRUDER}",
        {"1.1.2"},
    ),
    "a TCP socket without TLS": (
        f"d=$(sudo sh -c 'command -v dockerd') && sudo mkdir -p {TCP_DROPIN.rsplit('/', 1)[0]} "
        "&& printf '%s\\n' '[Service]' 'ExecStart=' "
        '"ExecStart=$d -H fd:// -H tcp://127.0.0.1:2375 '
        f'--containerd=/run/containerd/containerd.sock" | sudo tee {TCP_DROPIN} >/dev/null '
        "&& sudo systemctl daemon-reload && sudo systemctl restart docker",
        f"sudo rm -f {TCP_DROPIN} && sudo systemctl daemon-reload && sudo systemctl restart docker",
        {"2.7"},
    ),
}


@pytest.mark.parametrize("plant", PLANTS)
def test_a_planted_violation_fails_exactly_its_checks(compliant, plant):
    lab, before = compliant
    command, undo, expected = PLANTS[plant]
    sh(lab, HOST, command)
    try:
        after = results(**HARDENED)
    finally:
        sh(lab, HOST, undo)
    changed = {id: result for id, result in after.items() if before[id] != result}
    assert changed == dict.fromkeys(expected, FAIL)


def test_waiver_json_and_prometheus_from_the_command(compliant, tmp_path):
    prom, report = tmp_path / "docker_audit.prom", tmp_path / "audit.json"
    waiver = json.dumps({"2.9": "images that need root"})
    done = provision(
        "audit",
        "-i",
        INVENTORY,
        "--limit",
        HOST,
        *("--data", "docker_hardening=true", "--data", "docker_audit_rules=true"),
        *("--data", f"docker_audit_waivers={waiver}"),
        *("--prometheus", str(prom), "--report", str(report), "--json"),
    )
    assert done.returncode == 1, done.stderr  # 2.2, 2.12 and 2.13 still fail
    data = json.loads(done.stdout)
    assert data == json.loads(report.read_text())
    checks = {c["id"]: c for c in data["hosts"][HOST]["checks"]}
    assert checks["2.9"]["result"] == WAIVED
    assert checks["2.9"]["waiver"] == {"reason": "images that need root", "result": FAIL}
    assert "2.9 userns-remap: 1 waived: lab1" in data["summary"]
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    gauges = {s.labels["check"]: s for s in families["provision_docker_audit_check"].samples}
    assert set(gauges) == set(checks)
    assert gauges["2.9"].labels["result"] == WAIVED and gauges["2.9"].value == 1
    assert gauges["2.2"].labels["result"] == FAIL and gauges["2.2"].value == 0
    assert gauges["2.15"].value == 1 and gauges["2.15"].labels["host"] == HOST
