"""The audit's checks on fake probe data: each automatable check passes on a compliant host
and fails, alone, for its own violation; manual checks stay manual; waivers are reported."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from provision.audit import report
from provision.audit.checks import evaluate, unknown_waivers
from provision.audit.model import EVIDENCE_MAX, FAIL, MANUAL, NOT_APPLICABLE, PASS, WAIVED
from provision.audit.probe import commands
from provision.audit.registry import all_checks
from provision.audit.runner import AuditResult, HostAudit
from provision.audit.state import HostState
from provision.verify.probe import Section

from .audit_host import AuditHost, container

ALL = {check.id: check for check in all_checks()}
MANUAL_IDS = {id for id, check in ALL.items() if check.manual}
# what a compliant host leaves not applicable: files Debian does not have, no TCP socket, no
# TLS or registry certificates, no SELinux
NOT_APPLICABLE_ON_COMPLIANT = {
    "1.1.13", "1.1.15", "1.1.16", "2.7", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12",
    "3.13", "3.14", "3.21", "3.22", "5.3",
}  # fmt: skip


def results(host: AuditHost, waivers=None) -> dict[str, str]:
    return {f.check.id: f.result for f in evaluate(host.state(), waivers)}


def failing(host: AuditHost) -> set[str]:
    return {id for id, result in results(host).items() if result == FAIL}


def test_the_checks_are_the_benchmarks_sections_1_2_3_and_5():
    assert {id.split(".")[0] for id in ALL} == {"1", "2", "3", "5"}
    assert len([i for i in ALL if i.startswith("1.")]) == 20
    assert len([i for i in ALL if i.startswith("2.")]) == 18
    assert len([i for i in ALL if i.startswith("3.")]) == 24
    assert len([i for i in ALL if i.startswith("5.")]) == 32
    assert MANUAL_IDS == {
        "1.2.1", "1.2.2", "2.1", "2.8", "2.17", "5.7", "5.9", "5.18", "5.19", "5.23", "5.24",
        "5.28", "5.30",
    }  # fmt: skip
    assert all(check.level in (1, 2) and check.remediation for check in ALL.values())


def test_a_compliant_host_passes_every_automatable_check():
    found = results(AuditHost())
    assert {id for id, r in found.items() if r == MANUAL} == MANUAL_IDS
    assert {id for id, r in found.items() if r == NOT_APPLICABLE} == NOT_APPLICABLE_ON_COMPLIANT
    assert {id for id, r in found.items() if r == PASS} == (
        set(ALL) - MANUAL_IDS - NOT_APPLICABLE_ON_COMPLIANT
    )


def _without_rule(path: str, stat: bool = False):
    def change(host: AuditHost):
        lines = host.auditctl.splitlines()
        host.auditctl = "\n".join(line for line in lines if line.split()[1:2] != [path])
        if stat:
            host.stats[path] = ("f", "root", "root", "755")

    return change


def _stat(path, owner="root", group="root", mode="644", kind="f"):
    def change(host: AuditHost):
        host.stats[path] = (kind, owner, group, mode)

    return change


def _daemon(**options):
    def change(host: AuditHost):
        for key, value in options.items():
            key = key.replace("_", "-")
            if value is None:
                host.daemon_json.pop(key, None)
            else:
                host.daemon_json[key] = value

    return change


def _info(**values):
    return lambda host: host.info.update(values)


def _container(**changes):
    def change(host: AuditHost):
        host.containers = [container(**changes)]

    return change


def _tls(broken: str | None = None, owner: str | None = None, mode: str | None = None):
    """TLS on a TCP socket with files of good owner and mode, ``broken`` one changed."""

    def change(host: AuditHost):
        host.cmdline.append("-H")
        host.cmdline.append("tcp://0.0.0.0:2376")
        files = {"tlscacert": "444", "tlscert": "444", "tlskey": "400"}
        host.daemon_json["tlsverify"] = True
        for name, good in files.items():
            path = f"/etc/docker/tls/{name}.pem"
            host.daemon_json[name] = path
            wrong = name == broken
            host.stats[path] = (
                "f",
                owner if wrong and owner else "root",
                "root",
                mode if wrong and mode else good,
            )

    return change


def _mount(source, destination, **extra):
    return _container(
        Mounts=[{"Type": "bind", "Source": source, "Destination": destination, **extra}]
    )


def _ports(address: str, port: str):
    return _container(
        NetworkSettings={"Ports": {"80/tcp": [{"HostIp": address, "HostPort": port}]}}
    )


UNIT = "/lib/systemd/system"
VIOLATIONS = {
    "1.1.1": lambda host: setattr(host, "mounts", ["/ /dev/sda1 ext4"]),
    "1.1.2": lambda host: setattr(host, "group", "docker:x:999:deploy,mallory"),
    "1.1.3": _without_rule("/usr/bin/dockerd"),
    "1.1.4": _without_rule("/run/containerd"),
    "1.1.5": _without_rule("/var/lib/docker"),
    "1.1.6": _without_rule("/etc/docker"),
    "1.1.7": _without_rule("/usr/lib/systemd/system/docker.service"),
    "1.1.8": _without_rule("/run/containerd/containerd.sock"),
    "1.1.9": _without_rule("/usr/lib/systemd/system/docker.socket"),
    "1.1.10": _without_rule("/etc/default/docker"),
    "1.1.11": _without_rule("/etc/docker/daemon.json"),
    "1.1.12": _without_rule("/etc/containerd/config.toml"),
    "1.1.13": _stat("/etc/sysconfig/docker"),
    "1.1.14": _without_rule("/usr/bin/containerd"),
    "1.1.15": _without_rule("/usr/bin/containerd-shim", stat=True),
    "1.1.16": _without_rule("/usr/bin/containerd-shim-runc-v1", stat=True),
    "1.1.17": _without_rule("/usr/bin/containerd-shim-runc-v2"),
    "1.1.18": _without_rule("/usr/bin/runc"),
    "2.2": _daemon(icc=None),
    "2.3": _daemon(log_level="debug"),
    "2.4": _daemon(iptables=False),
    "2.5": _daemon(insecure_registries=["registry.internal:5000"]),
    "2.6": _info(Driver="aufs"),
    "2.7": lambda host: host.cmdline.extend(["-H", "tcp://0.0.0.0:2375"]),
    "2.9": _daemon(userns_remap=None),
    "2.11": _daemon(storage_opts=["dm.basesize=20G"]),
    "2.12": _daemon(authorization_plugins=None),
    "2.13": _info(LoggingDriver="json-file"),
    "2.14": _daemon(no_new_privileges=None),
    "2.15": lambda host: (_daemon(live_restore=None)(host), _info(LiveRestoreEnabled=False)(host)),
    "2.16": _daemon(userland_proxy=None),
    "2.18": _info(ExperimentalBuild=True),
    "3.1": _stat(f"{UNIT}/docker.service", group="staff"),
    "3.2": _stat(f"{UNIT}/docker.service", mode="664"),
    "3.3": _stat(f"{UNIT}/docker.socket", owner="deploy"),
    "3.4": _stat(f"{UNIT}/docker.socket", mode="646"),
    "3.5": _stat("/etc/docker", group="docker", mode="755", kind="d"),
    "3.6": _stat("/etc/docker", mode="775", kind="d"),
    "3.7": _stat("/etc/docker/certs.d/registry:5000/ca.crt", owner="deploy", mode="444"),
    "3.8": _stat("/etc/docker/certs.d/registry:5000/ca.crt", mode="644"),
    "3.9": _tls("tlscacert", owner="deploy"),
    "3.10": _tls("tlscacert", mode="644"),
    "3.11": _tls("tlscert", owner="deploy"),
    "3.12": _tls("tlscert", mode="664"),
    "3.13": _tls("tlskey", owner="deploy"),
    "3.14": _tls("tlskey", mode="440"),
    "3.15": _stat("/run/docker.sock", group="root", mode="660", kind="s"),
    "3.16": _stat("/run/docker.sock", group="docker", mode="666", kind="s"),
    "3.17": _stat("/etc/docker/daemon.json", owner="deploy"),
    "3.18": _stat("/etc/docker/daemon.json", mode="666"),
    "3.19": _stat("/etc/default/docker", group="adm"),
    "3.20": _stat("/etc/default/docker", mode="664"),
    "3.21": _stat("/etc/sysconfig/docker", mode="666"),
    "3.22": _stat("/etc/sysconfig/docker", owner="deploy"),
    "3.23": _stat("/run/containerd/containerd.sock", group="docker", mode="660", kind="s"),
    "3.24": _stat("/run/containerd/containerd.sock", mode="666", kind="s"),
    "5.1": _info(Swarm={"LocalNodeState": "active"}),
    "5.2": _container(AppArmorProfile="unconfined"),
    "5.3": lambda host: host.info["SecurityOptions"].append("name=selinux"),
    "5.4": _container(CapAdd=["SYS_ADMIN"]),
    "5.5": _container(Privileged=True),
    "5.6": _mount("/etc", "/host/etc"),
    "5.8": _ports("10.0.0.1", "80"),
    "5.10": _container(NetworkMode="host"),
    "5.11": _container(Memory=0),
    "5.12": _container(CpuShares=0),
    "5.13": _container(ReadonlyRootfs=False),
    "5.14": _ports("0.0.0.0", "8080"),
    "5.15": _container(RestartPolicy={"Name": "always", "MaximumRetryCount": 0}),
    "5.16": _container(PidMode="host"),
    "5.17": _container(IpcMode="host"),
    "5.20": _mount("/srv/data", "/data", Propagation="rshared"),
    "5.21": _container(UTSMode="host"),
    "5.22": _container(SecurityOpt=["no-new-privileges", "seccomp=unconfined"]),
    "5.26": lambda host: (_daemon(no_new_privileges=None)(host), _container(SecurityOpt=[])(host)),
    "5.27": _container(State={"Status": "running"}),
    "5.29": _container(PidsLimit=None),
    "5.31": _container(UsernsMode="host"),
    "5.32": _mount("/var/run/docker.sock", "/var/run/docker.sock"),
}  # fmt: skip
# checks that only confirm, never fail: what they see is for a person to judge
CONFIRM = {
    "2.10": _daemon(cgroup_parent="/custom"),
    "5.25": _container(CgroupParent="/custom"),
}
# a violation that fails its own check and these others too (the benchmark's checks overlap)
ALSO_FAILING = {
    "3.21": {"1.1.13"},  # a file nobody watches
    "3.22": {"1.1.13"},
    "5.26": {"2.14"},  # daemon-wide no-new-privileges would pass every container
}


def test_every_automatable_check_has_a_violation_here():
    assert set(VIOLATIONS) | set(CONFIRM) == set(ALL) - MANUAL_IDS


@pytest.mark.parametrize("id", sorted(VIOLATIONS, key=lambda i: [int(p) for p in i.split(".")]))
def test_each_violation_fails_exactly_its_check(id):
    host = AuditHost()
    VIOLATIONS[id](host)
    assert failing(host) == {id} | ALSO_FAILING.get(id, set())


@pytest.mark.parametrize("id", sorted(CONFIRM))
def test_a_cgroup_parent_is_left_to_a_person(id):
    host = AuditHost()
    CONFIRM[id](host)
    found = {f.check.id: f for f in evaluate(host.state())}
    assert found[id].result == MANUAL and "/custom" in found[id].evidence
    assert failing(host) == set()


def test_tls_on_a_tcp_socket_with_good_files_passes():
    host = AuditHost()
    _tls()(host)
    found = results(host)
    assert {id: found[id] for id in ("2.7", *(f"3.{n}" for n in range(9, 15)))} == {
        id: PASS for id in ("2.7", *(f"3.{n}" for n in range(9, 15)))
    }


def test_a_tcp_socket_without_tls_names_what_is_missing():
    host = AuditHost()
    VIOLATIONS["2.7"](host)
    finding = next(f for f in evaluate(host.state()) if f.check.id == "2.7")
    assert finding.evidence == "tcp://0.0.0.0:2375 without tlsverify, tlscacert, tlscert, tlskey"


def test_a_tls_file_the_audit_could_not_read_fails():
    host = AuditHost()
    _tls()(host)
    del host.stats["/etc/docker/tls/tlskey.pem"]
    assert failing(host) == {"3.13", "3.14"}


def test_without_containers_section_5_is_not_applicable():
    host = AuditHost(containers=[])
    found = results(host)
    per_container = {id for id in ALL if id.startswith("5.") and id not in MANUAL_IDS} - {"5.1"}
    assert {found[id] for id in per_container} == {NOT_APPLICABLE}
    assert found["5.1"] == PASS


def test_containers_that_cannot_be_listed_fail_section_5():
    host = AuditHost(containers=None)
    assert {"5.5", "5.32"} <= failing(host)


def test_without_auditctl_the_rules_files_are_read_and_said_so():
    from provision.docker.hardening import audit_rules

    from .audit_host import HARDENED

    host = AuditHost(auditctl=None, rules_files=audit_rules(HARDENED))
    found = {f.check.id: f for f in evaluate(host.state())}
    assert found["1.1.3"].result == PASS
    assert "rules files (auditctl cannot list)" in found["1.1.3"].evidence
    assert failing(AuditHost(auditctl=None)) >= {"1.1.3", "1.1.18"}


def test_a_command_line_option_counts_as_daemon_json_does():
    host = AuditHost()
    del host.daemon_json["icc"]
    host.cmdline.append("--icc=false")
    assert failing(host) == set()
    host.cmdline.extend(["--insecure-registry", "registry.internal:5000"])
    assert failing(host) == {"2.5"}


def test_merged_usr_paths_match_either_way():
    host = AuditHost()
    host.auditctl = host.auditctl.replace("/usr/lib/systemd", "/lib/systemd")
    host.auditctl = host.auditctl.replace(
        "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock"
    )
    assert failing(host) == set()


def test_waived_checks_are_reported_with_their_reason_and_result():
    host = AuditHost()
    VIOLATIONS["2.9"](host)
    findings = {f.check.id: f for f in evaluate(host.state(), {"2.9": "images need root"})}
    assert findings["2.9"].result == WAIVED
    assert findings["2.9"].as_dict()["waiver"] == {"reason": "images need root", "result": FAIL}
    assert unknown_waivers({"2.9": "x", "9.9": "y"}) == ["9.9"]


def test_the_probe_reads_settings_tls_files_quoted():
    script = commands(["/etc/ssl/it's.pem"])["stat"]
    assert "'/etc/ssl/it'\"'\"'s.pem'" in script


SECTIONS = list(AuditHost().sections())


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(SECTIONS), st.tuples(st.integers(0, 255), st.binary())))
def test_hostile_probe_data_never_breaks_the_audit(sections):
    state = HostState(AuditHost().sections() | {k: Section(*v) for k, v in sections.items()})
    for finding in evaluate(state):
        assert finding.result in (PASS, FAIL, NOT_APPLICABLE, MANUAL)
        assert len(finding.evidence) <= EVIDENCE_MAX and "\n" not in finding.evidence


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(JSONISH, max_size=3), JSONISH)
def test_hostile_container_and_daemon_json_shapes_never_break_the_audit(containers, config):
    host = AuditHost()
    state = HostState(
        host.sections()
        | {
            "containers": Section(0, json.dumps(containers).encode()),
            "info": Section(0, json.dumps({"ServerVersion": "1", **({"x": config})}).encode()),
        }
    )
    for finding in evaluate(state):
        assert finding.result in (PASS, FAIL, NOT_APPLICABLE, MANUAL)


def fleet(**hosts: AuditHost) -> AuditResult:
    return AuditResult(
        {name: HostAudit(evaluate(host.state()), duration_s=0.5) for name, host in hosts.items()}
        | {"db1": HostAudit(error="db1: the checks could not read the host (timeout)")},
        duration_s=1.0,
    )


def _live_restore_off() -> AuditHost:
    host = AuditHost()
    VIOLATIONS["2.15"](host)
    return host


def test_the_fleet_summary_names_the_failing_hosts():
    result = fleet(web1=AuditHost(), web7=_live_restore_off(), web9=_live_restore_off())
    lines = report.summary(result)
    assert "2.15 live-restore: 1 pass, 2 fail: web7, web9" in lines
    assert not any(line.startswith("2.14 ") for line in lines)  # passes everywhere
    assert not result.ok


def test_json_report_holds_every_check_of_every_host():
    result = fleet(web1=AuditHost(), web7=_live_restore_off())
    data = json.loads(json.dumps(result.as_dict()))
    assert data["hosts"]["web7"]["status"] == "failed"
    assert data["hosts"]["db1"]["status"] == "error"
    checks = {c["id"]: c for c in data["hosts"]["web7"]["checks"]}
    assert set(checks) == set(ALL)
    assert checks["2.15"]["result"] == FAIL and "docker_hardening" in checks["2.15"]["remediation"]


def test_junit_fails_failures_and_skips_manual_checks():
    tree = report.junit(fleet(web7=_live_restore_off()))
    suites = {s.get("name"): s for s in tree.getroot().iter("testsuite")}
    web7 = suites["provision.audit.web7"]
    assert web7.get("failures") == "1"
    failed = [c.get("name") for c in web7.iter("testcase") if c.find("failure") is not None]
    assert failed == ["2.15 Ensure live restore is enabled"]
    assert suites["provision.audit.db1"].get("errors") == "1"
    ET.fromstring(ET.tostring(tree.getroot()))


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_prometheus_text_parses_whatever_a_host_is_called(name):
    result = AuditResult({name: HostAudit(evaluate(_live_restore_off().state()))})
    families = {f.name: f for f in text_string_to_metric_families(report.prometheus(result))}
    samples = families["provision_docker_audit_check"].samples
    assert len(samples) == len(ALL)
    live = next(s for s in samples if s.labels["check"] == "2.15")
    assert live.labels["host"] == name and live.labels["result"] == FAIL and live.value == 0
    assert families["provision_docker_audit_host_read"].samples[0].value == 1


def test_the_table_shows_a_column_per_host_and_the_legend(capsys):
    from provision.report.tables import print_table

    print_table(report.table(fleet(web1=AuditHost(), web7=_live_restore_off())))
    out = capsys.readouterr().out
    assert "2.15 live-restore" in out and "db1: the checks could not read the host" in out
    assert "✓ pass ✗ fail" in out


def test_the_probe_runs_in_a_real_shell_and_its_sections_parse():
    import subprocess

    from provision.verify.probe import parse, render

    wanted = commands(["/etc/hostname", "/nonexistent/it's"])
    output = subprocess.run(
        ["sh", "-c", render(wanted)], capture_output=True, text=True, check=True
    ).stdout
    sections = parse(output, list(wanted))
    assert set(sections) == set(wanted)
    state = HostState(sections)
    assert state.stats["/etc/hostname"].kind == "f"
    assert "/nonexistent/it's" not in state.stats
    assert state.containers is None or isinstance(state.containers, list)
    assert "/" in state.mounts or not sections["mounts"].ok


def test_a_waiver_for_no_check_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    from .test_cli import run_main

    inventory = tmp_path / "inventory.py"
    inventory.write_text('hosts = [("web1.invalid", {"docker_audit_waivers": {"9.9": "x"}})]\n')
    code, out, err = run_main(monkeypatch, capsys, "audit", "-i", str(inventory))
    assert (code, out) == (2, "")
    assert err == (
        "error: web1.invalid: docker_audit_waivers names 9.9, which this audit does not check; "
        "use the benchmark's numbers, as `provision audit` lists them.\n"
    )


def test_a_larger_fleet_gets_a_row_per_host_with_its_failing_checks(capsys):
    from provision.report.tables import print_table

    hosts = {f"web{n}": AuditHost() for n in range(1, 10)}
    hosts["web7"] = _live_restore_off()
    print_table(report.table(fleet(**hosts)))
    out = capsys.readouterr().out
    rows = {line.split()[1]: line for line in out.splitlines() if " web" in line}
    assert "2.15" in rows["web7"] and "2.15" not in rows["web1"]
    assert "db1: the checks could not read the host" in out


def test_the_prometheus_file_is_written_whole(tmp_path):
    path = tmp_path / "docker_audit.prom"
    path.write_text("old\n")
    report.write_prometheus(path, fleet(web7=_live_restore_off()))
    assert path.read_text() == report.prometheus(fleet(web7=_live_restore_off()))
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["docker_audit.prom"]
