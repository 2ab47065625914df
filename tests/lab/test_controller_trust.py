"""The controller's side of the trust boundary, with the real OpenSSH client and real hosts:
inventory values that OpenSSH would hand to a shell (``ProxyJump``, a user's ``ProxyCommand``
with ``%h``) run nothing on the controller, and proxy credentials appear in no output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from provision.docker.layout import DOCKER_LOGIN
from provision.orchestrate.inventory import load
from provision.verify.run import verify

from .conftest import INVENTORY, provision
from .test_daemon import proxy  # noqa: F401 (the fixture: tinyproxy on the lab bridge)

LAB_INVENTORY = """\
from provision_lab.inventory import lab_groups

_data = dict(lab_groups()["lab"])
hosts = [(name, {{**_data[name], **extra}}) for name, extra in {hosts!r}.items()]
"""


def inventory(tmp_path, **hosts: dict) -> str:
    """An inventory of lab hosts with ``hosts[name]`` added to each one's data."""
    path = tmp_path / "inventory.py"
    path.write_text(LAB_INVENTORY.format(hosts=hosts))
    return str(path)


def user_config(tmp_path, lab) -> str:
    """A user's OpenSSH config reaching hosts through a ``ProxyCommand`` with ``%h``."""
    path = tmp_path / "user_config"
    path.write_text(f"Host *\n  ProxyCommand ssh -F {lab.config.ssh_config} -W %h:%p lab2\n")
    return str(path)


def hostile(tmp_path, lab, marker) -> dict[str, dict]:
    return {
        "proxy-jump": {"ssh_proxy_jump": f"a$(touch${{IFS}}{marker})@lab2"},
        "hostname": {
            "ssh_hostname": f"$(touch {marker})",  # OpenSSH lower-cases host names: no $IFS
            "ssh_config_file": user_config(tmp_path, lab),
        },
    }


def test_the_payloads_run_when_written_into_a_config_by_hand(lab, tmp_path):
    """The control: the real ``ssh`` does run these values through a shell."""
    for name, values in hostile(tmp_path, lab, tmp_path / "ran").items():
        marker = tmp_path / "ran"
        marker.unlink(missing_ok=True)
        config = tmp_path / f"{name}.config"
        option = "ProxyJump" if "ssh_proxy_jump" in values else "HostName"
        value = values.get("ssh_proxy_jump") or values["ssh_hostname"]
        include = f"Include {values['ssh_config_file']}\n" if "ssh_config_file" in values else ""
        config.write_text(f'Host lab1\n  {option} "{value}"\n  BatchMode yes\n{include}')
        subprocess.run(
            ["ssh", "-F", str(config), "-o", "ConnectTimeout=5", "lab1", "true"],
            capture_output=True,
            timeout=60,
        )
        assert marker.exists(), name


@pytest.mark.parametrize("case", ["proxy-jump", "hostname"])
def test_hostile_ssh_values_run_nothing_through_verify_or_the_pytest_plugin(lab, tmp_path, case):
    marker = tmp_path / "ran"
    values = hostile(tmp_path, lab, marker)[case]
    path = inventory(tmp_path, lab1=values)
    verified = provision("verify", "-i", path)
    assert verified.returncode == 2, verified.stdout + verified.stderr
    key = next(iter(k for k in values if k != "ssh_config_file"))
    assert verified.stderr.startswith(f"error: {path}: host lab1: {key} ")
    assert verified.stderr.count("\n") == 1 and verified.stdout == ""
    plugin = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--inventory", path]
        + ["--pyargs", "provision.verify.test_docker", "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert plugin.returncode == 4 and f"host lab1: {key} " in plugin.stderr
    assert not marker.exists()


def test_a_real_jump_host_is_accepted_and_used(lab, tmp_path):
    """What the grammar accepts still works: lab1 is verified through lab2 as its jump host."""
    path = inventory(tmp_path, lab1={"ssh_proxy_jump": "lab2"}, lab2={})
    result = verify(load(path))
    assert result.hosts["lab1"].error is None and result.hosts["lab1"].passed > 0


def test_proxy_and_repository_credentials_appear_in_no_output_report_or_junit(
    lab,
    tmp_path,
    proxy,  # noqa: F811
):
    secret = "s3cret-pw"
    url = proxy.url.replace("http://", f"http://ops:{secret}@")
    repo = lab.state["repo"]["url"].replace("http://", f"http://pull:{secret}@")
    data = ["--data", f"apt_proxy={url}", "--data", f'docker_proxy={{"https": "{url}"}}']
    data += ["--data", f"docker_repo_url={repo}"]
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    common = ["apply", "-i", INVENTORY, "--limit", "lab1", "--dry", *data]
    shown = provision(*common, "--report", str(report), "--junit", str(junit))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    as_json = provision(*common, "--json")
    assert as_json.returncode == 0, as_json.stderr
    for text in (shown.stdout, shown.stderr, as_json.stdout, as_json.stderr):
        assert secret not in text
    assert secret not in report.read_text() and secret not in junit.read_text()
    redacted = proxy.url.replace("http://", "http://***@")
    assert redacted in shown.stdout  # the diffs of daemon.json and apt's proxy file
    changes = json.loads(as_json.stdout)["hosts"]["lab1"]["changes"]
    assert any(redacted in change.get("diff", "") for change in changes)
    # the repository's login goes to a root-only file whose contents no report shows
    assert f"create {DOCKER_LOGIN} (mode 600, root:root) (a login: contents not shown)" in (
        shown.stdout
    )
    assert "pull:" not in shown.stdout + as_json.stdout
