"""What a lab may take from this machine: only its own folder's files, with
their modes, links that stay inside, and no more than the bound."""

import io
import os
import stat
import tarfile

import pytest

from orchestrator import confine
from orchestrator.backend import archive
from orchestrator.compile import compile_file
from orchestrator.errors import LabStateError

LAB = """name: web
nodes:
  srv: {kind: host, services: [{type: http, root: www}]}
  pc: {kind: host}
links:
  - [srv, pc]
"""


@pytest.fixture
def lab(tmp_path):
    (tmp_path / "lab.yml").write_text(LAB)
    www = tmp_path / "www"
    (www / "sub").mkdir(parents=True)
    (www / "index.html").write_text("hello")
    (www / "secret.txt").write_text("mine only")
    os.chmod(www / "secret.txt", 0o600)
    (www / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(www / "run.sh", 0o750)
    (www / "sub" / "page.html").write_text("page")
    (www / "to-etc").symlink_to("/etc/passwd")                 # leads out: left out
    (www / "up").symlink_to("../lab.yml")                      # out of the served folder: left out
    (www / "inside").symlink_to("sub/page.html")               # stays inside: kept
    (www / "absolute-inside").symlink_to(www / "sub")          # inside, written absolute: kept, made relative
    os.mkfifo(www / "pipe")                                    # not a file: left out
    return tmp_path


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_validation_names_what_is_left_out(lab):
    compiled = compile_file(lab)
    assert compiled.errors == []
    assert sorted(w.message for w in compiled.warnings) == [
        "www/pipe is not a file, folder or link (a device, pipe or socket): it is not copied into the node",
        "www/to-etc is a symbolic link to /etc/passwd, outside the folder: it is not copied into the node",
        f"www/up is a symbolic link to {lab / 'lab.yml'}, outside the folder: it is not copied into the node",
    ]


def test_the_archive_keeps_modes_and_only_what_stays_inside(lab):
    got = members(archive.of_folder(lab / "www", "/srv/labnet/web"))
    assert sorted(got) == ["srv/labnet/web", "srv/labnet/web/absolute-inside", "srv/labnet/web/index.html",
                           "srv/labnet/web/inside", "srv/labnet/web/run.sh", "srv/labnet/web/secret.txt",
                           "srv/labnet/web/sub", "srv/labnet/web/sub/page.html"]
    assert stat.S_IMODE(got["srv/labnet/web/secret.txt"].mode) == 0o600   # never more readable
    assert stat.S_IMODE(got["srv/labnet/web/run.sh"].mode) == 0o750
    assert got["srv/labnet/web/inside"].linkname == "sub/page.html"
    assert got["srv/labnet/web/absolute-inside"].linkname == "sub"
    assert all(m.uid == 0 and m.gid == 0 for m in got.values())


def test_a_folder_moved_behind_a_link_after_validation_is_refused(lab, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    real = lab / "www"
    real.rename(elsewhere / "www")
    (lab / "www").symlink_to(elsewhere / "www")
    with pytest.raises(LabStateError, match="is not where the lab was validated"):
        archive.of_folder(lab / "www", "/srv/labnet/web")


def test_a_copy_past_the_bound_is_refused_at_validation_and_at_deploy(lab, monkeypatch):
    monkeypatch.setenv("LABNET_MAX_COPY_MB", "1")
    (lab / "www" / "big.bin").write_bytes(b"\0" * (1024 * 1024 + 1))
    compiled = compile_file(lab)
    assert [e.message for e in compiled.errors] == [
        "the lab copies more than 1.0 MiB or 20,000 files into its nodes (counted up to here: 1.0 MiB, 4 files; "
        "every node serving a folder gets its own copy)"]
    with pytest.raises(LabStateError, match="holds more than a lab may copy into a node"):
        archive.of_folder(lab / "www", "/srv/labnet/web")


def test_every_node_serving_a_folder_counts_its_own_copy(lab, monkeypatch):
    serving = "pc: {kind: host, services: [{type: http, root: www}]}"
    (lab / "lab.yml").write_text(LAB.replace("pc: {kind: host}", serving))
    monkeypatch.setattr(confine, "MAX_COPY_BYTES", 30)   # one copy (22 bytes) fits, two do not
    assert [e.where for e in compile_file(lab).errors] == ["nodes.pc.services[0].root"]


def test_outside_says_where_a_name_leads(tmp_path):
    (tmp_path / "ok").mkdir()
    (tmp_path / "out").symlink_to("/tmp")
    assert confine.outside(tmp_path, "ok") is None
    assert confine.outside(tmp_path, ".") is None
    assert confine.outside(tmp_path, "/etc") == confine.Path("/etc")
    assert confine.outside(tmp_path, "ok/../../x") == tmp_path.parent / "x"
    assert confine.outside(tmp_path, "out") == confine.Path("/tmp").resolve()
