"""Symlinks in the served folder: those that stay inside the root are followed,
those that lead out are refused (403) however they get there, also when a
link is swapped in between checking a file and opening it."""

from __future__ import annotations

import os

import pytest
from http_client import get

from labnode.httpparse import HttpError
from labnode.webroot import WebRoot

SECRET = b"SECRET-outside-the-root"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("links")
    outside = base / "outside"
    outside.mkdir()
    (outside / "index.html").write_bytes(SECRET)
    (outside / "page.txt").write_bytes(SECRET)
    (base / "secret.txt").write_bytes(SECRET)
    root = base / "www"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "page.txt").write_bytes(b"inside page\n")
    (root / "linked-index").mkdir()
    os.symlink("../../secret.txt", root / "docs" / "rel-out")          # relative, climbing out
    os.symlink(base / "secret.txt", root / "abs-out")                  # absolute, outside
    os.symlink("abs-out", root / "chain")                              # inside -> inside -> outside
    os.symlink(outside, root / "dir-out")                              # a directory outside
    os.symlink(outside / "index.html", root / "linked-index" / "index.html")
    os.symlink("docs", root / "alias")                                 # a directory inside
    os.symlink("docs/page.txt", root / "page-link")                    # a file inside
    return root


@pytest.fixture(scope="module")
def server(module_service, tree):
    return module_service("http", "--root", str(tree))


@pytest.mark.parametrize("target", ["/docs/rel-out", "/abs-out", "/chain", "/dir-out/page.txt", "/dir-out/",
                                    "/linked-index/", "/alias/rel-out"])
def test_links_out_of_the_root_are_forbidden(server, target):
    reply = get(server.port, target)
    assert reply.status == 403
    assert SECRET not in reply.body


@pytest.mark.parametrize("target", ["/alias/page.txt", "/page-link"])
def test_links_inside_the_root_are_served(server, target):
    reply = get(server.port, target)
    assert reply.status == 200 and reply.body == b"inside page\n"


def test_a_file_swapped_for_a_link_after_the_check_is_not_opened(tmp_path):
    (tmp_path / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.txt").write_bytes(b"a")
    web = WebRoot(str(root))
    found = web.resolve("/a.txt")
    os.unlink(root / "a.txt")
    os.symlink(tmp_path / "secret.txt", root / "a.txt")  # the race: after resolve, before open
    with pytest.raises(HttpError) as info:
        web.open(found)
    assert info.value.status == 403


def test_a_directory_swapped_for_a_link_after_the_check_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_bytes(SECRET)
    root = tmp_path / "www"
    (root / "d").mkdir(parents=True)
    (root / "d" / "a.txt").write_bytes(b"a")
    web = WebRoot(str(root))
    found = web.resolve("/d/a.txt")
    os.rename(root / "d", tmp_path / "old-d")
    os.symlink(outside, root / "d")  # same path, now leading out
    with pytest.raises(HttpError) as info:
        web.open(found)
    assert info.value.status == 403


def test_an_unchanged_file_opens(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a")
    web = WebRoot(str(tmp_path))
    fd = web.open(web.resolve("/a.txt"))
    try:
        assert os.read(fd, 10) == b"a"
    finally:
        os.close(fd)
