"""The preflight's reading of apt: what ``apt-get update`` and ``apt-cache madison`` print."""

from __future__ import annotations

from provision.docker.preflight import MARK, Offer, RepositoryOffer, missing_packages

URI = "file:///srv/repo/debian"  # apt writes it file:/srv/repo/debian


def offer(update: list[str], status: int, madison: list[str]) -> Offer:
    lines = [f"{MARK}update", *update, f"{MARK}status", str(status), f"{MARK}madison", *madison]
    return RepositoryOffer().process(lines)


def test_a_missing_suite_is_apts_error():
    found = offer(
        [
            "Get:2 file:/srv/repo/debian forky Release",
            "Err:2 file:/srv/repo/debian forky Release",
            "  File not found - /srv/repo/debian/dists/forky/Release (2: No such file)",
            "Reading package lists...",
            "E: The repository 'file:/srv/repo/debian forky Release' does not have a Release file.",
        ],
        100,
        [" "],
    )
    assert found.problems(URI) == [
        "E: The repository 'file:/srv/repo/debian forky Release' does not have a Release file."
    ]
    assert found.versions == {}
    assert found.lacks_suite(URI)


def test_warnings_about_other_repositories_are_not_docker_s():
    found = offer(["W: http://mirror.test/debian bookworm InRelease: expired"], 0, [])
    assert found.problems(URI) == []


def test_a_failed_update_naming_no_repository_is_reported_whole():
    found = offer(["E: Could not get lock /tmp/x/lists/lock"], 100, [])
    assert found.problems(URI) == ["E: Could not get lock /tmp/x/lists/lock"]
    assert offer([], 100, []).problems(URI) == ["apt-get update exited 100"]


def test_madison_gives_the_versions_and_pins_decide_what_is_missing():
    found = offer(
        ["Hit:1 file:/srv/repo/debian trixie InRelease"],
        0,
        [
            "docker-ce | 5:26.1.5-1~debian.13~trixie | file:/srv/repo/debian trixie/stable amd64 "
            "Packages",
            "docker-ce | 5:20.10.24~3-0~debian-trixie | file:/srv/repo/debian trixie/stable amd64 "
            "Packages",
            "containerd.io | 1.7.24-1 | file:/srv/repo/debian trixie/stable amd64 Packages",
        ],
    )
    assert found.versions["docker-ce"] == [
        "5:26.1.5-1~debian.13~trixie",
        "5:20.10.24~3-0~debian-trixie",
    ]
    wanted = {"docker-ce": "26.1", "containerd.io": "1.6", "docker-ce-cli": None}
    assert missing_packages(found, wanted) == {"containerd.io": "1.6", "docker-ce-cli": None}


def test_no_answer_is_none():
    assert RepositoryOffer().process(["something else"]) is None


def test_only_a_missing_release_file_means_a_missing_suite():
    unsigned = "E: The repository 'file:/srv/repo/debian trixie Release' is not signed."
    assert not offer([unsigned], 100, []).lacks_suite(URI)
    other = (
        "E: The repository 'http://mirror.test/debian forky Release' does not have a Release file."
    )
    assert not offer([other], 100, []).lacks_suite(URI)  # the host's own sources: not Docker's
