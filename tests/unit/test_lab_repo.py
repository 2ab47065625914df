"""The stand-in Docker repository and lab image: the pure pieces, without network."""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import shutil
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from provision_lab import debian, image
from provision_lab.debian import Archive, DebianPackage, compare_versions
from provision_lab.errors import LabError
from provision_lab.repo import archive, control, planning, repackaging, specs

DOCKER_IO_26 = {
    "Package": "docker.io",
    "Version": "26.1.5+dfsg1-9+deb13u1+b1",
    "Architecture": "amd64",
    "Pre-Depends": "init-system-helpers (>= 1.54~)",
    "Depends": "libc6 (>= 2.34), libsystemd0, adduser, containerd (>= 1.4~), iptables, "
    "sysvinit-utils (>= 3.05-4~), runc (>= 1.0.0~rc8~), tini",
    "Recommends": "apparmor, docker-cli, needrestart (>= 3.1~)",
    "Conflicts": "docker-ce, docker-ce-rootless-extras",
    "Section": "admin",
    "Priority": "optional",
    "Homepage": "https://mobyproject.org",
    "Description": "Linux container runtime\n Docker complements kernel namespacing.",
}


def package(name: str, version: str, sha: str = "0" * 64) -> DebianPackage:
    return DebianPackage(name, version, f"pool/main/x/{name}/{name}_{version}_amd64.deb", sha, 1)


def spec(name: str, source_suite: str | None = None) -> specs.PackageSpec:
    return next(s for s in specs.SPECS if s.name == name and s.source_suite == source_suite)


def target(spec_: specs.PackageSpec, suite: str, *sources: DebianPackage) -> specs.Target:
    return specs.Target(spec_, suite, sources, glibc="2.36" if suite == "bookworm" else "2.41")


# Debian versions and indexes


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("1.0", "1.0-0", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0+b1", -1),
        ("1.10", "1.9", 1),
        ("1.0a", "1.0", 1),
        ("2:1.0", "1:9.9", 1),
        ("1.0-1~bpo12+1", "1.0-1", -1),
        ("5:26.1.5-1~debian.12~bookworm", "5:20.10.24-1~debian.12~bookworm", 1),
        ("2.36-9+deb12u14", "2.36-9+deb12u9", 1),
        ("0.0~git20190806.e31b211-4", "0.0~git20190806.e31b211-4", 0),
    ],
)
def test_compare_versions_orders_like_dpkg(a: str, b: str, sign: int) -> None:
    result = compare_versions(a, b)
    assert (result > 0) - (result < 0) == sign
    if shutil.which("dpkg"):
        op = {-1: "lt", 0: "eq", 1: "gt"}[sign]
        assert subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0


INDEX = """\
Package: docker.io
Version: 20.10.24+dfsg1-1
Filename: pool/main/d/docker.io/docker.io_20.10.24+dfsg1-1_amd64.deb
Size: 10
SHA256: aaaa
Description: old
 continued

Package: docker.io
Version: 20.10.24+dfsg1-1+deb12u1
Filename: pool/main/d/docker.io/docker.io_20.10.24+dfsg1-1+deb12u1_amd64.deb
Size: 20
SHA256: bbbb

Package: docker.io-doc
Version: 99
Filename: pool/x.deb
Size: 1
SHA256: cccc
"""


def test_find_packages_picks_the_newest_version() -> None:
    found = debian.find_packages(INDEX, ["docker.io"])
    assert found["docker.io"].version == "20.10.24+dfsg1-1+deb12u1"
    assert found["docker.io"].sha256 == "bbbb"
    assert found["docker.io"].basename == "docker.io_20.10.24+dfsg1-1+deb12u1_amd64.deb"


def test_find_packages_names_the_missing_ones() -> None:
    with pytest.raises(LabError, match="no package nope"):
        debian.find_packages(INDEX, ["docker.io", "nope"])


def test_stanzas_keep_continuation_lines_and_round_trip() -> None:
    first = next(debian.parse_stanzas(INDEX))
    assert first["Description"] == "old\n continued"
    assert debian.format_stanza(first) == INDEX.split("\n\n")[0] + "\n"


def test_release_checksum() -> None:
    release = "Origin: Debian\nSHA256:\n abc 12 main/binary-amd64/Packages.xz\n def 3 other\n"
    assert debian.release_checksum(release, "main/binary-amd64/Packages.xz") == ("abc", 12)
    with pytest.raises(LabError, match="does not list"):
        debian.release_checksum(release, "main/binary-arm64/Packages.xz")


def test_an_unreachable_archive_is_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(
        LabError, match=r"^cannot reach the Debian archive at http://127\.0\.0\.1:9/"
    ):
        debian.download("http://127.0.0.1:9/debian/dists/bookworm/InRelease", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_cached_indexes_answer_without_network(tmp_path: Path) -> None:
    archive = Archive("http://127.0.0.1:9/debian", tmp_path, keyring=None)
    directory = archive._index_dir("bookworm")
    directory.mkdir(parents=True)
    (directory / "Packages.xz").write_bytes(lzma.compress(INDEX.encode()))
    assert archive.packages("bookworm", {"docker.io"})["docker.io"].sha256 == "bbbb"
    selection = json.loads((directory / "selection.json").read_text())
    assert set(selection["packages"]) == {"docker.io"}
    (directory / "Packages.xz").unlink()  # the selection alone answers now
    assert archive.packages("bookworm", {"docker.io"})["docker.io"].version.endswith("deb12u1")


# Versions and relationships


@pytest.mark.parametrize(
    ("debian_version", "upstream"),
    [
        ("26.1.5+dfsg1-9+deb13u1+b1", "26.1.5"),
        ("20.10.24+dfsg1-1+deb12u1+b6", "20.10.24"),
        ("1.6.20~ds1-1+deb12u3", "1.6.20"),
        ("0.13.1+ds1-3", "0.13.1"),
        ("2.26.1-4", "2.26.1"),
        ("1:1.35.0-4+deb12u1+b1", "1.35.0"),
        ("2.36-9+deb12u14", "2.36"),
    ],
)
def test_upstream_version(debian_version: str, upstream: str) -> None:
    assert specs.upstream_version(debian_version) == upstream


def test_docker_versions_look_like_dockers() -> None:
    assert specs.docker_version("26.1.5", "bookworm", epoch="5") == "5:26.1.5-1~debian.12~bookworm"
    assert specs.docker_version("26.1.5", "trixie", epoch="5") == "5:26.1.5-1~debian.13~trixie"
    assert specs.docker_version("0.13.1", "trixie") == "0.13.1-1~debian.13~trixie"
    assert specs.docker_version("1.7.24", "trixie", distro_suffix=False) == "1.7.24-1"
    with pytest.raises(LabError, match="unknown Debian suite 'sid'"):
        specs.docker_version("1", "sid")


def test_pool_file_names_drop_the_epoch() -> None:
    engine = target(spec("docker-ce", "trixie"), "bookworm", package("docker.io", "26.1.5-9"))
    assert engine.filename("amd64") == "docker-ce_26.1.5-1~debian.12~bookworm_amd64.deb"
    runtime = target(spec("containerd.io"), "trixie", package("containerd", "1.7.24~ds1-6"))
    assert runtime.filename("amd64") == "containerd.io_1.7.24-1_amd64.deb"


def test_merge_relations_keeps_first_place_and_strictest_bound() -> None:
    merged = control.merge_relations(
        [
            "iptables",
            "libc6 (>= 2.34)",
            "iptables (>= 1.8)",
            "libc6 (>= 2.38)",
            "libc6 (>= 2.17)",
            "a | b",
            "a | b",
            "foo (<< 2)",
            "foo (>= 1)",
        ]
    )
    assert merged == ["iptables (>= 1.8)", "libc6 (>= 2.38)", "a | b", "foo (<< 2)", "foo (>= 1)"]


def test_engine_depends_use_dockers_names() -> None:
    clauses = control.parse_relations(DOCKER_IO_26["Depends"])
    engine = spec("docker-ce", "trixie")
    assert control.rewrite_depends(clauses, engine.sources, engine.depends) == [
        "containerd.io (>= 1.6)",
        "docker-ce-cli",
        "iptables",
        "tini",
        "libc6 (>= 2.34)",
        "libsystemd0",
        "adduser",
        "sysvinit-utils (>= 3.05-4~)",
    ]


def test_the_28_5_engine_runs_on_the_suites_tini_and_containerd_1_7_27() -> None:
    """sid's docker.io asks for tini-static, which bookworm and trixie ship inside tini."""
    sid = "debconf (>= 0.5) | debconf-2.0, libc6 (>= 2.34), containerd (>= 1.4~), tini-static"
    engine = spec("docker-ce", "sid")
    assert control.rewrite_depends(
        control.parse_relations(sid), engine.sources, engine.depends
    ) == [
        "containerd.io (>= 1.7.27)",
        "docker-ce-cli",
        "iptables",
        "tini",
        "debconf (>= 0.5) | debconf-2.0",
        "libc6 (>= 2.34)",
    ]


def test_containerd_io_does_not_depend_on_what_it_contains() -> None:
    containerd = control.parse_relations("runc (>= 0.1.0~), libc6 (>= 2.34)")
    runc = control.parse_relations("libc6 (>= 2.38), libseccomp2 (>= 2.5.0)")
    depends = control.rewrite_depends([*containerd, *runc], ("containerd", "runc"))
    assert depends == ["libc6 (>= 2.38)", "libseccomp2 (>= 2.5.0)"]


def test_libc_bound_and_relax() -> None:
    clauses = ["tini", "libc6 (>= 2.38)"]
    assert control.libc_bound(clauses) == "2.38"
    assert control.libc_bound(["tini"]) is None
    assert control.relax_libc(clauses, "2.34") == ["tini", "libc6 (>= 2.34)"]


# Control files


def test_engine_control_fields() -> None:
    engine = target(spec("docker-ce", "trixie"), "bookworm", package("docker.io", "26.1.5-9"))
    fields = control.control_fields(engine, [DOCKER_IO_26], "amd64")
    assert list(fields) == [
        "Package",
        "Version",
        "Architecture",
        "Maintainer",
        "Pre-Depends",
        "Depends",
        "Recommends",
        "Conflicts",
        "Replaces",
        "Section",
        "Priority",
        "Homepage",
        "Description",
    ]
    assert fields["Package"] == "docker-ce"
    assert fields["Version"] == "5:26.1.5-1~debian.12~bookworm"
    assert fields["Conflicts"] == "docker (<< 1.5~), docker-engine, docker.io"
    assert fields["Replaces"] == "docker-engine"
    assert "needrestart" not in fields["Recommends"] and "docker-cli" not in fields["Recommends"]
    summary, _, origin = fields["Description"].partition("\n ")
    assert summary == "Docker: the open-source application container engine"
    assert origin == "Repackaged for the provision lab from Debian trixie's docker.io 26.1.5-9."
    assert "Source" not in fields


def test_cli_split_from_docker_io_keeps_only_libc() -> None:
    cli = target(spec("docker-ce-cli", "bookworm"), "trixie", package("docker.io", "20.10.24-1"))
    fields = control.control_fields(cli, [DOCKER_IO_26], "amd64")
    assert fields["Depends"] == "libc6 (>= 2.34)"
    assert "Pre-Depends" not in fields
    assert "docker.io" in fields["Conflicts"]


@pytest.mark.parametrize(
    ("suite", "conflicts", "recommends"),
    [
        (
            "bookworm",  # Docker's 20.10 branch
            "docker (<< 1.5~), docker-engine, docker-engine-cs, docker.io, lxc-docker, "
            "lxc-docker-virtual-package",
            None,
        ),
        (
            "trixie",  # Docker's packaging of 26.1 (mid 2024)
            "docker (<< 1.5~), docker-engine, docker.io",
            "docker-buildx-plugin, docker-compose-plugin",
        ),
    ],
)
def test_cli_relationships_follow_dockers_release(suite, conflicts, recommends) -> None:
    """Neither release conflicts with Debian's docker-cli: Docker added that in June 2026."""
    cli = target(spec("docker-ce-cli", suite), "bookworm", package("docker-cli", "26.1.5-9"))
    fields = control.control_fields(cli, [{"Depends": "libc6 (>= 2.34), docker.io"}], "amd64")
    assert fields["Conflicts"] == conflicts
    assert "docker-cli" not in control.parse_relations(fields["Conflicts"])
    assert fields.get("Recommends") == recommends
    assert fields["Breaks"] == fields["Replaces"] == "docker-ce (<< 5:0)"
    assert fields["Depends"] == "libc6 (>= 2.34)"


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_engine_recommends_rootless_extras(suite) -> None:
    engine = target(spec("docker-ce", suite), "trixie", package("docker.io", "26.1.5-9"))
    fields = control.control_fields(engine, [DOCKER_IO_26], "amd64")
    assert "docker-ce-rootless-extras" in control.parse_relations(fields["Recommends"])
    assert control.parse_relations(fields["Conflicts"])[:2] == ["docker (<< 1.5~)", "docker-engine"]


ROOTLESSKIT = {
    "Package": "rootlesskit",
    "Version": "2.0.2-2+b9",
    "Architecture": "amd64",
    "Depends": "uidmap, libc6 (>= 2.34)",
    "Recommends": "slirp4netns",
}


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_rootless_extras_control_fields(suite) -> None:
    extras = target(
        spec("docker-ce-rootless-extras", suite),
        "bookworm",
        package("docker.io", "26.1.5+dfsg1-9+deb13u1+b1"),
        package("rootlesskit", "2.0.2-2+b9"),
    )
    fields = control.control_fields(extras, [DOCKER_IO_26, ROOTLESSKIT], "amd64")
    assert fields["Package"] == "docker-ce-rootless-extras"
    assert fields["Version"] == "5:26.1.5-1~debian.12~bookworm"  # the engine's version
    assert fields["Depends"] == "dbus-user-session, libc6 (>= 2.34)"  # no uidmap, as Docker's
    assert "Pre-Depends" not in fields
    assert fields["Recommends"] == "slirp4netns (>= 0.4.0)"
    for field in ("Conflicts", "Breaks", "Replaces"):
        assert fields[field] == "rootlesskit"
    assert fields["Enhances"] == "docker-ce"
    assert fields["Description"].startswith("Rootless support for Docker.\n")


def test_containerd_io_provides_what_it_replaces() -> None:
    runtime = target(
        spec("containerd.io"),
        "bookworm",
        package("containerd", "1.6.20~ds1-1"),
        package("runc", "1"),
    )
    fields = control.control_fields(
        runtime,
        [{"Depends": "runc (>= 0.1.0~), libc6 (>= 2.34)"}, {"Depends": "libseccomp2 (>= 2.5.0)"}],
        "amd64",
    )
    for field in ("Provides", "Conflicts", "Replaces"):
        assert fields[field] == "containerd, runc"
    assert fields["Depends"] == "libc6 (>= 2.34), libseccomp2 (>= 2.5.0)"
    assert fields["Version"] == "1.6.20-1"


def make_tree(root: Path) -> None:
    for path in (
        "usr/bin/docker",
        "usr/sbin/dockerd",
        "usr/share/bash-completion/completions/docker",
        "usr/share/doc/docker.io/copyright",
        "usr/share/lintian/overrides/docker.io",
        "usr/share/man/man1/docker-attach.1.gz",
        "usr/share/man/man5/Dockerfile.5.gz",
        "usr/share/man/man8/dockerd.8.gz",
        "etc/default/docker",
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)
    (root / "etc/docker").mkdir()
    (root / "usr/bin/docker-init").symlink_to("tini-static")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text("Package: docker.io\n")


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()} | {
        p.relative_to(root).as_posix() + "/" for p in root.rglob("*") if p.is_dir()
    }


def test_select_files_splits_the_cli_out_of_the_engine(tmp_path: Path) -> None:
    engine, cli = tmp_path / "engine", tmp_path / "cli"
    make_tree(engine)
    make_tree(cli)
    repackaging.select_files(engine, spec("docker-ce", "bookworm"))
    repackaging.select_files(cli, spec("docker-ce-cli", "bookworm"))
    engine_files, cli_files = tree(engine), tree(cli)
    assert "usr/bin/docker" not in engine_files and "usr/bin/docker" in cli_files
    assert "usr/sbin/dockerd" in engine_files and "usr/sbin/" not in cli_files
    assert "usr/bin/docker-init" in engine_files and "usr/bin/docker-init" not in cli_files
    assert "etc/docker/" in engine_files and "etc/" not in cli_files
    assert "usr/share/lintian/" not in engine_files | cli_files
    assert "usr/share/doc/docker.io/copyright" in cli_files
    assert {"DEBIAN/control"} <= engine_files & cli_files
    # the CLI's manual pages belong to docker-ce-cli: 28.5's (from sid's docker-cli) would
    # otherwise collide with 26.1's docker-ce on upgrade
    cli_pages = {"usr/share/man/man1/docker-attach.1.gz", "usr/share/man/man5/Dockerfile.5.gz"}
    assert cli_pages <= cli_files and not cli_pages & engine_files
    assert "usr/share/man/man8/dockerd.8.gz" in engine_files - cli_files


def test_installed_size_counts_kib_and_entries(tmp_path: Path) -> None:
    (tmp_path / "usr").mkdir()
    (tmp_path / "usr/a").write_bytes(b"x" * 1025)
    (tmp_path / "usr/b").symlink_to("a")
    (tmp_path / "DEBIAN").mkdir()
    (tmp_path / "DEBIAN/control").write_bytes(b"x" * 5000)
    assert control.installed_size(tmp_path) == 1 + 2 + 1


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_repack_renames_splits_and_rewrites(tmp_path: Path) -> None:
    source = tmp_path / "src"
    make_tree(source)
    control = {**DOCKER_IO_26, "Version": "20.10.24+dfsg1-1+deb12u1"}
    (source / "DEBIAN/control").write_text(debian.format_stanza(control))
    (source / "DEBIAN/conffiles").write_text("/etc/default/docker\n")
    (source / "DEBIAN/postinst").write_text("#!/bin/sh\nset -e\naddgroup --system docker\n")
    (source / "DEBIAN/postinst").chmod(0o755)
    deb = tmp_path / "docker.io.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(source), str(deb)], check=True)
    pool, work = tmp_path / "pool", tmp_path / "work"
    pool.mkdir()
    work.mkdir()
    sources = package("docker.io", control["Version"])
    for spec_ in (spec("docker-ce", "bookworm"), spec("docker-ce-cli", "bookworm")):
        fields = repackaging.repack(target(spec_, "trixie", sources), [deb], pool, work, "amd64")
        built = pool / fields["Filename"]
        info = subprocess.run(["dpkg-deb", "-f", str(built)], capture_output=True, text=True)
        assert f"Package: {spec_.name}\n" in info.stdout
        assert "Version: 5:20.10.24-1~debian.13~trixie\n" in info.stdout
        listing = subprocess.run(["dpkg-deb", "-c", str(built)], capture_output=True, text=True)
        scripts = subprocess.run(["dpkg-deb", "-I", str(built)], capture_output=True, text=True)
        assert f"./usr/share/doc/{spec_.name}/copyright" in listing.stdout
        assert ("./usr/sbin/dockerd" in listing.stdout) == (spec_.name == "docker-ce")
        assert ("./usr/bin/docker\n" in listing.stdout) == (spec_.name == "docker-ce-cli")
        assert ("postinst" in scripts.stdout) == (spec_.name == "docker-ce")
        assert ("conffiles" in scripts.stdout) == (spec_.name == "docker-ce")
    assert list(work.iterdir()) == []


def build_deb(root: Path, files: dict[str, str], control: dict[str, str], out: Path) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "DEBIAN").mkdir(exist_ok=True)
    (root / "DEBIAN/control").write_text(debian.format_stanza(control))
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True)
    return out


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_repack_rootless_extras_has_dockers_file_list(tmp_path: Path) -> None:
    contrib = "usr/share/docker.io/contrib"
    engine_files = {
        "usr/sbin/dockerd": "dockerd",
        f"{contrib}/dockerd-rootless.sh": "#!/bin/sh\n",
        f"{contrib}/dockerd-rootless-setuptool.sh": "#!/bin/sh\n",
        f"{contrib}/check-config.sh": "#!/bin/sh\n",
        "usr/share/doc/docker.io/copyright": "moby",
    }
    (tmp_path / "d/DEBIAN").mkdir(parents=True)
    (tmp_path / "d/DEBIAN/postinst").write_text("#!/bin/sh\naddgroup --system docker\n")
    (tmp_path / "d/DEBIAN/postinst").chmod(0o755)
    docker_io = build_deb(tmp_path / "d", engine_files, DOCKER_IO_26, tmp_path / "d.deb")
    kit_files = {
        f"usr/bin/{name}": name
        for name in ("rootlesskit", "rootlessctl", "rootlesskit-docker-proxy")
    }
    kit_files["usr/share/doc/rootlesskit/copyright"] = "rootlesskit"
    kit_files["usr/share/doc/rootlesskit/README.md.gz"] = "readme"
    kit = build_deb(tmp_path / "k", kit_files, ROOTLESSKIT, tmp_path / "k.deb")
    pool, work = tmp_path / "pool", tmp_path / "work"
    pool.mkdir()
    work.mkdir()
    sources = (package("docker.io", DOCKER_IO_26["Version"]), package("rootlesskit", "2.0.2-2"))
    extras = target(spec("docker-ce-rootless-extras", "trixie"), "bookworm", *sources)
    fields = repackaging.repack(extras, [docker_io, kit], pool, work, "amd64")
    built = pool / fields["Filename"]
    assert built.name == "docker-ce-rootless-extras_26.1.5-1~debian.12~bookworm_amd64.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(built)], capture_output=True, text=True)
    files = {line.split()[-1].removeprefix("./") for line in listing.stdout.splitlines()}
    assert {f for f in files if f and not f.endswith("/")} == {
        "usr/bin/rootlesskit",
        "usr/bin/rootlesskit-docker-proxy",
        "usr/bin/dockerd-rootless.sh",
        "usr/bin/dockerd-rootless-setuptool.sh",
        "usr/share/doc/docker-ce-rootless-extras/copyright",
        "usr/share/doc/rootlesskit/copyright",
    }
    assert "usr/share/docker.io/" not in files  # emptied by the move, then removed
    info = subprocess.run(["dpkg-deb", "-I", str(built)], capture_output=True, text=True)
    assert "postinst" not in info.stdout  # docker.io's scripts stay with docker-ce
    assert list(work.iterdir()) == []


def test_the_engine_leaves_the_rootless_scripts_to_the_extras(tmp_path: Path) -> None:
    contrib = tmp_path / "usr/share/docker.io/contrib"
    contrib.mkdir(parents=True)
    for name in ("dockerd-rootless.sh", "dockerd-rootless-setuptool.sh", "check-config.sh"):
        (contrib / name).write_text(name)
    repackaging.select_files(tmp_path, spec("docker-ce", "trixie"))
    assert sorted(p.name for p in contrib.iterdir()) == ["check-config.sh"]


def test_a_missing_file_to_move_stops_the_build(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="dockerd-rootless.sh is missing"):
        repackaging.move_files(tmp_path, spec("docker-ce-rootless-extras", "bookworm"))


# Planning, indexes, cache key


def selections() -> dict[str, dict[str, DebianPackage]]:
    return {
        "bookworm": {
            "docker.io": package("docker.io", "20.10.24+dfsg1-1", "a" * 64),
            "containerd": package("containerd", "1.6.20~ds1-1", "b" * 64),
            "runc": package("runc", "1.1.5+ds1-1", "c" * 64),
            "rootlesskit": package("rootlesskit", "1.1.0-1+b4", "4" * 64),
            "libc6": package("libc6", "2.36-9+deb12u14"),
        },
        "trixie": {
            "docker.io": package("docker.io", "26.1.5+dfsg1-9", "d" * 64),
            "docker-cli": package("docker-cli", "26.1.5+dfsg1-9", "e" * 64),
            "docker-buildx": package("docker-buildx", "0.13.1+ds1-3", "f" * 64),
            "docker-compose": package("docker-compose", "2.26.1-4", "1" * 64),
            "containerd": package("containerd", "1.7.24~ds1-6", "2" * 64),
            "runc": package("runc", "1.1.15+ds1-2", "3" * 64),
            "rootlesskit": package("rootlesskit", "2.0.2-2+b9", "5" * 64),
            "libc6": package("libc6", "2.41-12"),
        },
        "sid": {
            "docker.io": package("docker.io", "28.5.2+dfsg4-5", "6" * 64),
            "docker-cli": package("docker-cli", "28.5.2+dfsg4-5", "7" * 64),
            "docker-buildx": package("docker-buildx", "0.29.1+ds1-4", "8" * 64),
            "docker-compose": package("docker-compose", "2.40.3-3", "9" * 64),
            "containerd": package("containerd", "2.1.9+ds1-5", "a1" * 32),
            "rootlesskit": package("rootlesskit", "2.0.2-2+b11", "a2" * 32),
        },
    }


def test_needed_packages_per_suite() -> None:
    needs = planning.needed_packages(["bookworm"])
    assert needs["bookworm"] == {"docker.io", "rootlesskit", "containerd", "runc", "libc6"}
    assert needs["trixie"] == {
        "docker.io",
        "docker-cli",
        "rootlesskit",
        "docker-buildx",
        "docker-compose",
    }
    # sid's runc needs glibc 2.38: containerd 2.1 comes with the suite's own runc.
    assert needs["sid"] == {*needs["trixie"], "containerd"}


def test_a_moved_on_sid_stops_the_plan_with_a_sentence() -> None:
    moved = selections()
    moved["sid"]["docker.io"] = package("docker.io", "29.1.0+dfsg1-1")
    with pytest.raises(LabError, match="sid now carries docker.io 29.1.0.*needs updating"):
        planning.plan(["trixie"], moved)


ENGINES = ("20.10.24", "26.1.5", "28.5.2")
ROOTLESSKITS = ("1.1.0-1+b4", "2.0.2-2+b9", "2.0.2-2+b11")


def test_plan_puts_the_three_engines_in_every_suite() -> None:
    targets = planning.plan(["bookworm", "trixie"], selections())
    assert planning.engine_versions(targets) == {
        suite: [f"5:{engine}-1~debian.{number}~{suite}" for engine in ENGINES]
        for suite, number in (("bookworm", 12), ("trixie", 13))
    }
    extras = {
        (t.suite, t.version, t.sources[1].version)
        for t in targets
        if t.spec.name == "docker-ce-rootless-extras"
    }
    assert extras == {
        (suite, f"5:{engine}-1~debian.{number}~{suite}", rootlesskit)
        for suite, number in (("bookworm", 12), ("trixie", 13))
        for engine, rootlesskit in zip(ENGINES, ROOTLESSKITS, strict=True)
    }
    runtimes = {
        (t.suite, t.version, t.sources[1].version)
        for t in targets
        if t.spec.name == "containerd.io"
    }
    assert runtimes == {
        ("bookworm", "1.6.20-1", "1.1.5+ds1-1"),
        ("bookworm", "2.1.9-1", "1.1.5+ds1-1"),
        ("trixie", "1.7.24-1", "1.1.15+ds1-2"),
        ("trixie", "2.1.9-1", "1.1.15+ds1-2"),
    }
    engines = {t.version: t.spec.depends[0] for t in targets if t.spec.name == "docker-ce"}
    assert engines["5:28.5.2-1~debian.12~bookworm"] == "containerd.io (>= 1.7.27)"
    assert engines["5:26.1.5-1~debian.12~bookworm"] == "containerd.io (>= 1.6)"
    assert {t.glibc for t in targets if t.suite == "bookworm"} == {"2.36"}


def test_cache_key_follows_every_input() -> None:
    suites = ("bookworm", "trixie")
    targets = planning.plan(suites, selections())
    key = planning.cache_key(targets, "F" * 40, suites, "amd64")
    assert key == planning.cache_key(planning.plan(suites, selections()), "F" * 40, suites, "amd64")
    rebuilt_source = [
        replace(t, sources=(replace(t.sources[0], sha256="9" * 64), *t.sources[1:]))
        if t.spec.name == "docker-ce-cli"
        else t
        for t in targets
    ]
    assert key != planning.cache_key(rebuilt_source, "F" * 40, suites, "amd64")
    assert key != planning.cache_key(targets, "E" * 40, suites, "amd64")
    assert key != planning.cache_key(targets, "F" * 40, ("trixie", "bookworm"), "amd64")
    assert key != planning.cache_key(
        [replace(t, glibc="2.37") for t in targets], "F" * 40, suites, "amd64"
    )


def test_a_changed_recipe_has_its_own_key_and_directory(tmp_path: Path, monkeypatch) -> None:
    """Checkouts with different recipes share the cache without building over each other."""
    changed = tuple(
        replace(s, conflicts=(*s.conflicts, "docker-cli")) if s.name == "docker-ce-cli" else s
        for s in specs.SPECS
    )
    assert planning.recipe_digest(changed) != planning.recipe_digest()
    assert planning.recipe_digest() == planning.recipe_digest(tuple(specs.SPECS))
    assert planning.repository_dir(tmp_path).parent == tmp_path
    assert planning.repository_dir(tmp_path).name == f"repo-{planning.recipe_digest()[:12]}"
    suites = ("bookworm", "trixie")
    targets = planning.plan(suites, selections())
    key = planning.cache_key(targets, "F" * 40, suites, "amd64")
    directory = planning.repository_dir(tmp_path)
    monkeypatch.setattr(planning, "SPECS", changed)
    assert planning.repository_dir(tmp_path) != directory
    assert planning.cache_key(targets, "F" * 40, suites, "amd64") != key


def test_packages_index_and_release(tmp_path: Path) -> None:
    (tmp_path / "b_1_amd64.deb").write_bytes(b"deb b")
    (tmp_path / "a_2_amd64.deb").write_bytes(b"deb a2")
    (tmp_path / "a_10_amd64.deb").write_bytes(b"deb a10")
    records = [
        {"Package": name, "Version": version, "Description": "x\n y", "Filename": filename}
        for name, version, filename in [
            ("b", "1", "b_1_amd64.deb"),
            ("a", "10", "a_10_amd64.deb"),
            ("a", "2", "a_2_amd64.deb"),
        ]
    ]
    text = archive.packages_index(records, tmp_path, "dists/x/pool/stable/amd64")
    stanzas = list(debian.parse_stanzas(text))
    assert [(s["Package"], s["Version"]) for s in stanzas] == [("a", "2"), ("a", "10"), ("b", "1")]
    assert stanzas[0]["Filename"] == "dists/x/pool/stable/amd64/a_2_amd64.deb"
    assert stanzas[0]["SHA256"] == hashlib.sha256(b"deb a2").hexdigest()
    assert stanzas[0]["Size"] == "6"
    assert list(stanzas[0])[-1] == "Description"
    release = archive.release_file("bookworm", "amd64", {"stable/binary-amd64/Packages": b"P"})
    fields = next(debian.parse_stanzas(release))
    assert (fields["Origin"], fields["Label"], fields["Codename"]) == (
        "Docker",
        "Docker",
        "bookworm",
    )
    assert fields["Components"] == "stable" and fields["Architectures"] == "amd64"
    sha, size = debian.release_checksum(release, "stable/binary-amd64/Packages")
    assert (sha, size) == (hashlib.sha256(b"P").hexdigest(), 1)


# The image


def members(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()
        }


def test_layer_has_busybox_and_its_applets() -> None:
    layer = members(image.layer_tar(b"\x7fELF fake busybox"))
    assert layer["bin/busybox"][1] == b"\x7fELF fake busybox"
    assert layer["bin/busybox"][0].mode == 0o755
    for applet in image.APPLETS:
        assert layer[f"bin/{applet}"][0].issym() and layer[f"bin/{applet}"][0].linkname == "busybox"
    assert all(m.mtime == 0 and m.uid == 0 for m, _ in layer.values())


def test_image_archive_is_docker_save_format() -> None:
    data = image.image_archive(b"fake busybox")
    assert data == image.image_archive(b"fake busybox")  # deterministic
    files = members(data)
    manifest = json.loads(files["manifest.json"][1])
    assert len(manifest) == 1 and manifest[0]["RepoTags"] == ["provision-lab/hello:latest"]
    config_data = files[manifest[0]["Config"]][1]
    assert manifest[0]["Config"] == hashlib.sha256(config_data).hexdigest() + ".json"
    config = json.loads(config_data)
    (layer_path,) = manifest[0]["Layers"]
    layer = files[layer_path][1]
    assert config["rootfs"] == {
        "type": "layers",
        "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"],
    }
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["config"]["Cmd"] == ["/bin/echo", "Hello from the provision lab"]
    assert members(layer)["bin/echo"][0].linkname == "busybox"


def test_a_variant_lacks_the_packages_it_is_told_to_and_shares_the_pool(tmp_path):
    from provision_lab.repo import write_variant

    repo = tmp_path / "repo"
    index = repo / "dists/trixie/stable/binary-amd64/Packages"
    index.parent.mkdir(parents=True)
    (repo / "dists/trixie/pool").mkdir()
    (repo / "gpg").write_text("key\n")
    index.write_text(
        "Package: containerd.io\nVersion: 1.7.24-1\n\nPackage: docker-ce\nVersion: 5:26.1.5-1\n"
    )
    dest = write_variant(repo, tmp_path / "variant", "trixie", without=("docker-ce",))
    dists = dest / "dists/trixie"
    packages = (dists / "stable/binary-amd64/Packages").read_bytes()
    assert packages == b"Package: containerd.io\nVersion: 1.7.24-1\n"
    assert hashlib.sha256(packages).hexdigest() in (dists / "Release").read_text()
    assert not (dists / "InRelease").exists()  # unsigned: apt refuses it
    assert (dists / "pool").resolve() == (repo / "dists/trixie/pool").resolve()
    assert (dest / "gpg").read_text() == "key\n"


PURGE_QUESTION = "Template: docker.io/purge-data\nType: boolean\nDefault: false\n"


@pytest.mark.parametrize(
    ("templates", "kept"),
    [(PURGE_QUESTION, False), (PURGE_QUESTION + "\nTemplate: docker.io/restart\n", True)],
)
def test_only_known_debconf_questions_are_dropped(tmp_path: Path, templates, kept) -> None:
    """sid's purge question goes (Docker asks none); an unknown one stops the build."""
    control = tmp_path / "DEBIAN"
    control.mkdir()
    (control / "config").write_text("#!/bin/sh\n")
    (control / "templates").write_text(templates)
    engine = spec("docker-ce", "sid")
    if kept:
        with pytest.raises(LabError, match="docker.io now uses debconf"):
            repackaging._prepare_debian_dir(tmp_path, engine, [])
        return
    repackaging._prepare_debian_dir(tmp_path, engine, [])
    assert not (control / "config").exists() and not (control / "templates").exists()
    with pytest.raises(LabError, match="docker.io now uses debconf"):
        (control / "config").write_text("#!/bin/sh\n")
        repackaging._prepare_debian_dir(tmp_path, spec("docker-ce", "trixie"), [])
