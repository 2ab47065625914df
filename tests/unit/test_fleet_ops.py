"""Fleet operations without hosts: shards, batch sizes, rollouts, resume, the lock's shell
protocol (run here with the real flock), bootstrap's checks and exec's command line."""

from __future__ import annotations

import fcntl
import json
import shlex
import subprocess
from pathlib import Path

import pytest
from pyinfra.api import Inventory
from rich.console import Console

from provision.core.errors import UsageError
from provision.orchestrate import lock
from provision.orchestrate.batches import batch_size, batches
from provision.orchestrate.bootstrap import check, public_key
from provision.orchestrate.exec import CommandResult, ExecResult, remote_command
from provision.orchestrate.inventory import Fleet
from provision.orchestrate.results import FleetResult, HostResult
from provision.orchestrate.rollout import resumed, roll_out
from provision.orchestrate.shard import Shard, parse
from provision.report.tables import exec_table
from provision.verify.run import Check, HostChecks

# shards -------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 10, 16])
@pytest.mark.parametrize("size", [0, 1, 2, 5, 9, 31, 32, 33, 100, 1000])
def test_shards_cover_every_host_exactly_once(size, count):
    names = [f"host{i:04d}" for i in range(size)]
    shards = [Shard(k, count).take(names) for k in range(1, count + 1)]
    taken = [name for shard in shards for name in shard]
    assert sorted(taken) == sorted(names) and len(taken) == len(set(taken))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1


def test_a_shard_depends_on_the_names_only_and_keeps_their_order():
    names = [f"web{i}" for i in range(20)]
    shuffled = names[7:] + names[:7]
    for k in (1, 2, 3):
        assert sorted(Shard(k, 3).take(names)) == sorted(Shard(k, 3).take(shuffled))
        mine = Shard(k, 3).take(shuffled)
        assert mine == [name for name in shuffled if name in mine]


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "", "1/0", "-1/2", "2/3/4"])
def test_bad_shard_is_one_sentence_naming_the_option(text):
    with pytest.raises(UsageError, match=r"^--shard .* is not K/N with 1 <= K <= N; "):
        parse(text)


def test_shard_parse():
    assert parse("2/4") == Shard(2, 4) and str(parse("2/4")) == "2/4"


# batch sizes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hosts", "size"),
    [("5", 10, 5), ("25%", 10, 3), ("100%", 7, 7), ("1%", 3, 1), ("50%", 1, 1), ("12", 3, 12)],
)
def test_batch_size(text, hosts, size):
    assert batch_size(text, hosts) == size


@pytest.mark.parametrize("text", ["0", "0%", "101%", "x", "-1", "%", "2.5"])
def test_bad_batch_size(text):
    with pytest.raises(UsageError, match=r"^--batch .* is neither a host count"):
        batch_size(text, 10)


def test_batches_keep_order():
    assert batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]


# rollouts -----------------------------------------------------------------------------------


def fleet_of(*names: str) -> Fleet:
    inventory = Inventory((list(names), {}))
    return Fleet("fleet.py", inventory, list(inventory))


class FakeRun:
    """Stands in for ``run_deploy`` and ``verify``: statuses and failing checks by host name."""

    def __init__(self, failed=(), unverified=(), interrupt_at=None):
        self.failed, self.unverified, self.interrupt_at = set(failed), set(unverified), interrupt_at
        self.applied: list[list[str]] = []

    def apply(self, part, deploy, command, locking=None, after=None):
        names = [host.name for host in part.hosts]
        self.applied.append(names)
        hosts = {n: HostResult("failed" if n in self.failed else "changed") for n in names}
        interrupted = "SIGTERM" if self.interrupt_at in names else None
        if interrupted:
            hosts[self.interrupt_at].status = "interrupted"
        else:
            after([n for n in names if n not in self.failed])
        return FleetResult("apply", hosts, interrupted=interrupted)

    def verify(self, part):
        def checks(name):
            return HostChecks([Check("test_service", name not in self.unverified, "inactive")])

        return type("Verified", (), {"hosts": {h.name: checks(h.name) for h in part.hosts}})


def states(rollout) -> dict[str, str]:
    return {name: host.state for name, host in rollout.hosts.items()}


def test_rollout_stops_when_a_batch_fails_more_than_allowed():
    run = FakeRun(failed={"b"})
    rollout = roll_out(fleet_of(*"abcde"), None, run.verify, 2, 0, apply=run.apply)
    assert run.applied == [["a", "b"]]
    assert states(rollout) == {
        "a": "done",
        "b": "failed",
        "c": "not attempted",
        "d": "not attempted",
        "e": "not attempted",
    }
    assert "batch 1: 1 of 2 hosts failed" in rollout.stopped and not rollout.ok


def test_rollout_goes_on_within_the_fail_percentage():
    run = FakeRun(failed={"b"})
    rollout = roll_out(fleet_of(*"abcde"), None, run.verify, 2, 50, apply=run.apply)
    assert run.applied == [["a", "b"], ["c", "d"], ["e"]] and rollout.stopped is None
    assert rollout.summary() == {
        "hosts": 5,
        "done": 4,
        "failed": 1,
        "interrupted": 0,
        "not attempted": 0,
    }


def test_a_failing_verification_fails_the_host():
    run = FakeRun(unverified={"a"})
    rollout = roll_out(fleet_of("a", "b"), None, run.verify, 1, 0, apply=run.apply)
    assert states(rollout) == {"a": "failed", "b": "not attempted"}
    assert rollout.hosts["a"].verify == "failed" and "test_service" in rollout.hosts["a"].error


def test_an_interrupted_batch_ends_the_rollout():
    run = FakeRun(interrupt_at="c")
    rollout = roll_out(fleet_of(*"abcd"), None, run.verify, 2, 100, apply=run.apply)
    assert states(rollout) == {
        "a": "done",
        "b": "done",
        "c": "interrupted",
        "d": "interrupted",  # its apply ran, its verification never did
    }
    assert rollout.interrupted == "SIGTERM" and rollout.stopped == "interrupted by SIGTERM."


def test_resume_skips_the_hosts_done_and_reports_them(tmp_path):
    run = FakeRun(failed={"b"})
    first = roll_out(fleet_of(*"abc"), None, run.verify, 1, 0, apply=run.apply)
    first.batch = "1"
    report = tmp_path / "rollout.json"
    report.write_text(json.dumps(first.as_dict()))
    assert resumed(str(report)) == (["a"], "1")
    again = FakeRun()
    done = resumed(str(report))[0]
    rollout = roll_out(fleet_of(*"abc"), None, again.verify, 1, 0, done, None, apply=again.apply)
    assert again.applied == [["b"], ["c"]]
    assert rollout.as_dict()["hosts"]["a"] == {"state": "done", "earlier": True}
    assert rollout.ok


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist"),
        ("{", "is not the JSON report"),
        ('{"hosts": {}}', "is not the JSON report"),
        ('{"rollout": {}, "hosts": {"a": {}}}', "is not the JSON report"),
        ("[]", "is not the JSON report"),
        ('{"rollout": [], "hosts": {}}', "is not the JSON report"),
        ('{"rollout": {"batch": ["2"]}, "hosts": {}}', "is not the JSON report"),
        ('{"rollout": {"batch": "2"}, "hosts": []}', "is not the JSON report"),
        ('{"rollout": {"batch": "2"}, "hosts": {"a": "done"}}', "is not the JSON report"),
        (b"\xff\xfe{}", "is not the JSON report"),
        ("dir", "is a directory"),
    ],
)
def test_resume_needs_a_rollout_report(tmp_path, text, message):
    path = tmp_path / "report.json"
    if text == "dir":
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match=f"^--resume {path} {message}"):
        resumed(str(path))


# the lock's shell protocol, with the real flock ---------------------------------------------


def locker(path: Path, who: str, wait: int) -> subprocess.Popen:
    script = ["sh", "-c", lock.SCRIPT, "provision-lock", str(path), who, str(wait)]
    return subprocess.Popen(
        script, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_lock_is_held_until_the_holders_input_closes(tmp_path):
    path = tmp_path / "provision.lock"
    odd = "controller 'a' $(touch pwned) `id` \"b\""  # quoted, never run
    first = locker(path, odd, 0)
    assert first.stdout.readline() == "locked\n"
    second = locker(path, "second", 1)
    out, _ = second.communicate(timeout=10)
    assert second.returncode == lock.HELD_EXIT
    assert out.splitlines() == [f"waiting {odd}", f"held {odd}"]
    assert not (tmp_path / "pwned").exists()
    third = locker(path, "third", 10)
    assert third.stdout.readline() == f"waiting {odd}\n"
    first.stdin.close()  # as sshd does when the controller's connection goes
    first.wait(timeout=10)
    assert third.stdout.readline() == "locked\n"
    assert path.read_text() == "third\n"
    assert path.stat().st_mode & 0o777 == 0o600  # no one else can open it to hold it
    third.stdin.close()
    third.wait(timeout=10)


@pytest.mark.parametrize("mode", [0o644, 0o666, 0o400])
def test_a_lock_file_of_another_mode_is_made_anew(tmp_path, mode):
    """A user who opened a readable lock file (an older version's) and holds it holds
    nothing: the run makes the file anew, root's alone, and takes the lock at once."""
    path = tmp_path / "provision.lock"
    path.write_text("old\n")
    path.chmod(mode)
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = locker(path, "new", 0)
        assert run.stdout.readline() == "locked\n"
        assert path.stat().st_mode & 0o777 == 0o600 and path.read_text() == "new\n"
        run.stdin.close()
        run.wait(timeout=10)


def test_lock_command_quotes_every_value():
    command = lock.command(30, "controller x; reboot", sudo=True)
    argv = shlex.split(command)
    assert argv[:5] == ["sudo", "-n", "sh", "-c", lock.SCRIPT]
    assert argv[5:] == ["provision-lock", lock.LOCK_FILE, "controller x; reboot", "30"]
    assert shlex.split(lock.command(2.7, "me", sudo=False))[0] == "sh"


def test_owner_names_controller_process_and_start():
    text = lock.owner()
    assert text.startswith("controller ") and "(pid " in text and "started 20" in text


# bootstrap's checks -------------------------------------------------------------------------


@pytest.fixture
def deploy_key(tmp_path) -> str:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return str(key)


def fleet_with(**hosts: dict) -> Fleet:
    inventory = Inventory(([(name, data) for name, data in hosts.items()], {}))
    return Fleet("fleet.py", inventory, list(inventory))


def test_bootstrap_reads_the_deploy_key(deploy_key):
    keys = check(fleet_with(web1={"ssh_user": "deploy", "ssh_key": deploy_key}), None)
    assert keys == {"web1": Path(deploy_key + ".pub").read_text().strip()}
    Path(deploy_key + ".pub").unlink()  # derived from the private key when there is no .pub
    host = fleet_with(web1={"ssh_user": "deploy", "ssh_key": deploy_key}).hosts[0]
    assert public_key(host).split()[:2] == keys["web1"].split()[:2]


def test_bootstrap_checks_every_host_before_touching_any(deploy_key, monkeypatch):
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    fleet = fleet_with(
        web1={"ssh_user": "root", "ssh_key": deploy_key},
        web2={"ssh_user": "De Ploy", "ssh_key": deploy_key},
        web3={"ssh_user": "deploy"},
        web4={"ssh_user": "deploy.user", "ssh_key": deploy_key},
    )
    with pytest.raises(UsageError) as raised:
        check(fleet, "NO_SUCH_PASSWORD")
    message = str(raised.value)
    assert message.startswith("fleet.py: --password-env NO_SUCH_PASSWORD: that environment")
    assert "host web1: ssh_user 'root' cannot be the deploy user" in message
    assert "host web2: ssh_user 'De Ploy' cannot be the deploy user" in message
    assert "host web3: no ssh_key" in message
    assert "host web4: ssh_user 'deploy.user'" in message  # sudo skips drop-ins with a dot


# exec ---------------------------------------------------------------------------------------


def test_exec_command_line_with_sudo_keeps_the_command_whole():
    command = "echo 'a b' | tr a-z A-Z; id -u"
    assert remote_command(command, sudo=False) == command
    argv = shlex.split(remote_command(command, sudo=True))
    assert argv == ["sudo", "-n", "sh", "-c", command]
    assert subprocess.run(argv[2:], capture_output=True, text=True).stdout.startswith("A B\n")


def test_exec_table_shows_first_lines_errors_and_every_host():
    result = ExecResult(
        "uptime",
        False,
        {
            "web1": CommandResult(0, 0.2, "".join(f"line {i}\n" for i in range(10))),
            "web2": CommandResult(2, 0.1, "", "boom\n"),
            "web3": CommandResult(None, 3.0, error="web3: cannot connect over SSH (timed out)"),
        },
    )
    console = Console(width=200, record=True)
    console.print(exec_table(result))
    text = console.export_text()
    assert "line 2" in text and "line 3" not in text and "7 more lines" in text
    assert "boom" in text and "web3: cannot connect over SSH" in text
    assert "3 hosts: 1 exit 0, 1 non-zero, 1 not run" in text
    assert not result.ok and result.summary()["not run"] == 1


# lab limits ---------------------------------------------------------------------------------


def test_inotify_limits_are_raised_never_lowered(tmp_path):
    from provision_lab.limits import MINIMUM, raise_inotify_limits

    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("1048576\n")
    values = raise_inotify_limits(tmp_path)
    assert values == {
        "max_user_instances": MINIMUM["max_user_instances"],
        "max_user_watches": 1048576,
    }
    assert (tmp_path / "max_user_instances").read_text() == f"{MINIMUM['max_user_instances']}\n"
    assert (tmp_path / "max_user_watches").read_text() == "1048576\n"


def test_rollout_junit_fails_failed_hosts_and_skips_the_rest():
    from provision.report.documents import rollout_junit

    run = FakeRun(failed={"b"})
    rollout = roll_out(fleet_of(*"abc"), None, run.verify, 1, 0, apply=run.apply)
    cases = {c.get("name"): c for c in rollout_junit(rollout).getroot().iter("testcase")}
    assert list(cases) == ["a", "b", "c"]
    assert not list(cases["a"]) and cases["b"].find("failure") is not None
    assert "batch 2" in cases["c"].find("skipped").get("message")


# the commands' usage errors -----------------------------------------------------------------

UNREACHABLE = 'hosts = [("web1.invalid", {"ssh_user": "deploy"}), "web2.invalid"]\n'


def run_main(monkeypatch, capsys, *args: str):
    from provision.cli import main

    monkeypatch.setattr("sys.argv", ["provision", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply", "--shard", "3/2"], "error: --shard 3/2 is not K/N"),
        (["apply", "--batch", "0"], "error: --batch 0 is neither a host count"),
        (["apply", "--dry", "--batch", "1"], "error: --dry cannot be combined with --batch"),
        (["apply", "--resume", "/nonexistent.json"], "error: --resume /nonexistent.json does"),
        (["exec", "--shard", "0/2", "--", "true"], "error: --shard 0/2 is not K/N"),
        (["bootstrap", "--initial-user", "root"], "error: "),
    ],
)
def test_fleet_usage_errors_exit_2_before_any_host_is_touched(
    monkeypatch, capsys, tmp_path, args, message
):
    path = tmp_path / "inventory.py"
    path.write_text(UNREACHABLE)
    command, *rest = args
    code, out, err = run_main(monkeypatch, capsys, command, "-i", str(path), *rest)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_bootstrap_names_each_host_without_a_deploy_key(monkeypatch, capsys, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(UNREACHABLE)
    code, _, err = run_main(
        monkeypatch, capsys, "bootstrap", "-i", str(path), "--initial-user", "root"
    )
    assert code == 2
    assert "host web1.invalid: no ssh_key" in err
    assert "host web2.invalid: ssh_user None cannot be the deploy user" in err


def test_an_empty_shard_has_nothing_to_do(monkeypatch, capsys, tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text(UNREACHABLE)
    code, out, _ = run_main(monkeypatch, capsys, "apply", "-i", str(path), "--shard", "3/3")
    assert code == 0
    assert out.strip() == "shard 3/3: no hosts (of 2 selected); nothing to do."


# fabric connections from pyinfra host data -------------------------------------------------


def test_connection_follows_the_host_data(tmp_path, deploy_key):
    import paramiko

    from provision.ssh.connections import RecordNewKeys, connection

    known = tmp_path / "known_hosts"
    public = Path(deploy_key + ".pub").read_text().split()
    known.write_text(f"10.0.0.5 {public[0]} {public[1]}\n")
    data = {
        "ssh_hostname": "10.0.0.5",
        "ssh_user": "deploy",
        "ssh_port": 2222,
        "ssh_key": deploy_key,
        "ssh_known_hosts_file": str(known),
        "ssh_connect_timeout": 7,
    }
    host = fleet_with(web1=data).hosts[0]
    conn = connection(host)
    assert (conn.host, conn.user, conn.port, conn.connect_timeout) == (
        "10.0.0.5",
        "deploy",
        2222,
        7,
    )
    assert conn.connect_kwargs["key_filename"] == [deploy_key]
    assert isinstance(conn.client._policy, paramiko.RejectPolicy)
    assert conn.client.get_host_keys().lookup("10.0.0.5") is not None
    with_password = connection(host, user="root", password="secret")
    assert with_password.user == "root" and "key_filename" not in with_password.connect_kwargs
    assert with_password.connect_kwargs["password"] == "secret"
    new = fleet_with(web1={**data, "ssh_strict_host_key_checking": "accept-new"}).hosts[0]
    assert isinstance(connection(new).client._policy, RecordNewKeys)


def test_a_new_host_key_is_recorded_with_its_fingerprint(tmp_path, deploy_key):
    import paramiko

    from provision.ssh.connections import RecordNewKeys

    key = paramiko.PKey.from_path(deploy_key)
    known = tmp_path / "ssh" / "known_hosts"
    policy = RecordNewKeys(known)
    policy.missing_host_key(paramiko.SSHClient(), "[10.0.0.5]:2222", key)
    assert known.read_text() == f"[10.0.0.5]:2222 {key.get_name()} {key.get_base64()}\n"
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", deploy_key + ".pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert policy.recorded == {"[10.0.0.5]:2222": ("ssh-ed25519", listed)}


GREEN = """\
import sys
import time
import paramiko  # imports invoke before gevent's patches, as pyinfra's API does
from gevent import monkey
monkey.patch_all()
from invoke.util import ExceptionHandlingThread
from provision.core.compat import invoke_threads_on_gevent
if sys.argv[1] == "fixed":
    invoke_threads_on_gevent()
thread = ExceptionHandlingThread(target=time.sleep, args=(0.1,))  # as fabric's I/O threads
thread.start()
for _ in range(30):  # how invoke waits for them
    thread.join(0.1)
    if not thread.is_alive():
        print("ran")
        break
"""


@pytest.mark.parametrize("mode", ["fixed", "as imported"])
def test_invoke_threads_finish_under_gevent_only_with_green_threads(mode):
    import sys

    try:
        done = subprocess.run(
            [sys.executable, "-c", GREEN, mode], capture_output=True, text=True, timeout=10
        )
        finished = done.stdout.strip() == "ran"  # else the thread seems alive forever
    except subprocess.TimeoutExpired:
        finished = False
    assert finished == (mode == "fixed")


def test_a_deferred_new_host_key_is_recorded_only_on_commit(tmp_path, deploy_key):
    import paramiko

    from provision.ssh.connections import RecordNewKeys

    key = paramiko.PKey.from_path(deploy_key)
    known = tmp_path / "known_hosts"
    policy = RecordNewKeys(known, defer=True)
    policy.missing_host_key(paramiko.SSHClient(), "10.0.0.5", key)
    policy.missing_host_key(paramiko.SSHClient(), "10.0.0.5", key)  # a second login attempt
    assert not known.exists() and policy.recorded == {}
    assert policy.seen["10.0.0.5"][0] == "ssh-ed25519"
    policy.commit()
    assert known.read_text() == f"10.0.0.5 {key.get_name()} {key.get_base64()}\n"
    assert policy.recorded == policy.seen


def test_the_bootstrap_table_says_which_keys_were_recorded_seen_or_not_confirmed():
    from provision.orchestrate.bootstrap import BootstrapResult, FleetBootstrap
    from provision.report.tables import bootstrap_table

    def caption(**hosts: str) -> str:
        results = {name: BootstrapResult(host_key=key) for name, key in hosts.items()}
        return bootstrap_table(FleetBootstrap("root", results)).caption

    assert caption(a="known", b="known") == "every host key matched the known_hosts file."
    text = caption(
        a="recorded ssh-ed25519 SHA256:x",
        b="new ssh-ed25519 SHA256:y, not recorded (the login failed)",
        c="-",
        d="known",
    )
    assert "host keys of a were seen for the first time and recorded" in text
    assert "host keys of b were seen for the first time but not recorded" in text
    assert "no host key of c was confirmed" in text and "every host key matched" not in text
