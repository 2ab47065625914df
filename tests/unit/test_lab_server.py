"""The lab's repository behind HTTP basic auth, as a private mirror serves it."""

from __future__ import annotations

import base64
import ipaddress
import urllib.error
import urllib.request

import pytest

from provision_lab.config import LabConfig
from provision_lab.server import serving_with_login


def _get(url: str, authorization: str | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url)
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), ""
    except urllib.error.HTTPError as error:
        return error.code, b"", error.headers.get("WWW-Authenticate", "")


def test_files_are_served_only_with_the_login(tmp_path):
    config = LabConfig(tmp_path, tmp_path, ipaddress.IPv4Network("127.0.0.0/24"))
    (config.www_dir / "linux" / "debian").mkdir(parents=True)
    (config.www_dir / "linux" / "debian" / "gpg").write_bytes(b"key")
    good = "Basic " + base64.b64encode(b"pull:s3cret").decode()
    with serving_with_login(config, ("pull", "s3cret")) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/linux/debian/gpg"
        assert _get(url, good) == (200, b"key", "")
        for sent in (None, "Basic " + base64.b64encode(b"pull:wrong").decode(), good + "x"):
            assert _get(url, sent) == (401, b"", 'Basic realm="lab repository"')
        assert server.requests == [
            ("GET", "/linux/debian/gpg", True),
            *[("GET", "/linux/debian/gpg", False)] * 3,
        ]


@pytest.mark.parametrize("path", ["/linux/debian/missing", "/../../etc/passwd"])
def test_what_is_not_there_is_not_found_with_the_login(tmp_path, path):
    config = LabConfig(tmp_path, tmp_path, ipaddress.IPv4Network("127.0.0.0/24"))
    config.www_dir.mkdir()
    good = "Basic " + base64.b64encode(b"u:p").decode()
    with serving_with_login(config, ("u", "p")) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        assert _get(url, good)[0] == 404
