"""Redaction: URL credentials and secret-named values never survive into what is shown."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.core import redact

# what RFC 3986 allows in userinfo: unreserved, sub-delims, ":" and percent-encodings
USERINFO = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&()*+,;=:%@", min_size=1)
AROUND = st.sampled_from(
    ["", "proxy ", '"https-proxy": "', 'Acquire::http::Proxy "', "HTTPS_PROXY="]
)


@settings(max_examples=300)
@given(userinfo=USERINFO, before=AROUND, scheme=st.sampled_from(["http", "https", "socks5"]))
def test_url_credentials_are_masked_whatever_they_hold(userinfo, before, scheme):
    url = f"{scheme}://{userinfo}@proxy.internal:3128/path"
    assert redact.text(f'{before}{url}"; next') == (
        f'{before}{scheme}://***@proxy.internal:3128/path"; next'
    )


@pytest.mark.parametrize(
    ("shown", "masked"),
    [
        ("password=hunter2 x", "password=*** x"),
        ('{"ssh_password": "hunter2"}', '{"ssh_password": "***"}'),
        ("ssh_password: 'hunter2'", "ssh_password: '***'"),
        ("X-Registry-Token=abc.def", "X-Registry-Token=***"),
        # sentences that mention a password are not assignments
        (
            "--password-env PASS: that variable is not set",
            "--password-env PASS: that variable is not set",
        ),
        ("http://proxy.internal:3128/x", "http://proxy.internal:3128/x"),
    ],
)
def test_assigned_secrets_are_masked_and_sentences_left_alone(shown, masked):
    assert redact.text(shown) == masked


def test_secret_named_fields_are_masked_at_any_depth():
    data = {
        "hosts": {"web1": {"ssh_password": "hunter2", "error": "via http://a:b@p:1 failed"}},
        "list": [{"token": 7}, "https://u:p@h"],
        "empty_password": "",
    }
    assert redact.redacted(data) == {
        "hosts": {"web1": {"ssh_password": "***", "error": "via http://***@p:1 failed"}},
        "list": [{"token": "***"}, "https://***@h"],
        "empty_password": "",
    }


def test_progress_lines_are_redacted():
    import io

    from provision.orchestrate.progress import Board

    board = Board("provision apply", stream=io.StringIO())
    board.set("web1", "download http://ops:s3cret@proxy.internal:3128/key")
    assert board.line().endswith("web1: download http://***@proxy.internal:3128/key")


def test_remembered_secrets_are_masked_wherever_they_turn_up(monkeypatch):
    monkeypatch.setattr(redact, "_known", set())
    redact.remember({"ssh_password": "pw-4711", "_sudo_password": "sudo-pw", "ssh_user": "deploy"})
    redact.remember({"api_token": ["tok"], "ssh_key_password": 123456})
    shown = redact.text("echo sudo-pw | sudo -S; login deploy/pw-4711 failed (123456, tok)")
    assert shown == "echo *** | sudo -S; login deploy/*** failed (***, tok)"


def test_an_inventorys_secrets_are_remembered_when_it_loads(tmp_path, monkeypatch):
    from provision.orchestrate.inventory import load

    monkeypatch.setattr(redact, "_known", set())
    path = tmp_path / "inventory.py"
    path.write_text("hosts = [('web1', {'ssh_password': 'hunter2-pw'})]\n")
    load(str(path))
    assert redact.text("Authentication failed for hunter2-pw") == "Authentication failed for ***"
