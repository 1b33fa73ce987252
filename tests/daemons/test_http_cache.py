"""The http service's response cache never serves what the full way would not:
edited, deleted and re-linked files are seen at once, confinement included."""

from __future__ import annotations

import os
import re

import pytest
from http_client import RawHttp, get

SECRET = b"TOPSECRET-cache-must-not-leak"
OLD = 1_000_000_000  # an mtime long ago: the file has settled, so its responses are cached


@pytest.fixture
def site(tmp_path):
    (tmp_path / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "www"
    (root / "dir").mkdir(parents=True)
    for name, data in {"page.txt": b"version one\n", "other.txt": b"the other\n",
                       "dir/index.html": b"dir index\n", "gone.txt": b"soon gone\n"}.items():
        (root / name).write_bytes(data)
        os.utime(root / name, (OLD, OLD))
    os.symlink("other.txt", root / "link.txt")
    return root


@pytest.fixture
def server(start_service, site):
    return start_service("http", "--root", str(site))


def twice(port: int, target: str, method: str = "GET"):
    """The same request bytes twice (the second is the one a cache could answer)."""
    first = get(port, target, method=method)
    return first, get(port, target, method=method)


def test_edited_file_is_served_fresh_even_with_the_same_size_and_mtime(server, site):
    first, second = twice(server.port, "/page.txt")
    assert first.body == second.body == b"version one\n"
    (site / "page.txt").write_bytes(b"version two\n")  # same size
    os.utime(site / "page.txt", (OLD, OLD))             # same mtime (the ctime changes)
    assert get(server.port, "/page.txt").body == b"version two\n"


def test_symlink_swapped_to_lead_out_of_the_root_is_refused(server, site):
    first, second = twice(server.port, "/link.txt")
    assert second.status == 200 and second.body == b"the other\n"
    os.unlink(site / "link.txt")
    os.symlink(site.parent / "secret.txt", site / "link.txt")
    reply = get(server.port, "/link.txt")
    assert reply.status == 403 and SECRET not in reply.body


def test_deleted_file_is_404(server, site):
    twice(server.port, "/gone.txt")
    os.unlink(site / "gone.txt")
    assert get(server.port, "/gone.txt").status == 404


def test_directory_index_replaced_is_served_fresh(server, site):
    first, second = twice(server.port, "/dir/")
    assert second.body == b"dir index\n"
    (site / "dir" / "index.html").unlink()
    assert b"Index of /dir/" in get(server.port, "/dir/").body  # now a listing


def test_head_after_get_has_length_but_no_body(server):
    twice(server.port, "/other.txt")
    with RawHttp(server.port) as client:
        for _ in range(2):
            client.send(b"HEAD /other.txt HTTP/1.1\r\nHost: test\r\n\r\n")
            reply = client.reply(head_only=True)
            assert reply.status == 200 and reply.headers["content-length"] == "10"
        client.send(b"GET /other.txt HTTP/1.1\r\nHost: test\r\n\r\n")  # no stray body came first
        assert client.reply().body == b"the other\n"


def test_cached_replies_keep_headers_keep_alive_and_close(server):
    with RawHttp(server.port) as client:
        for _ in range(3):
            client.send(b"GET /page.txt HTTP/1.1\r\nHost: test\r\n\r\n")
            reply = client.reply()
            assert reply.headers["connection"] == "keep-alive"
            assert reply.headers["last-modified"] == "Sun, 09 Sep 2001 01:46:40 GMT"
            assert reply.headers["server"] == "labnode-http" and "date" in reply.headers
        client.send(b"GET /page.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        assert client.reply().headers["connection"] == "close"
        assert client.closed_by_peer()


def test_every_cached_request_is_in_the_access_log(server):
    with RawHttp(server.port) as client:
        me = f"127.0.0.1:{client.local_port}"
        for _ in range(5):
            client.send(b"GET /page.txt?n HTTP/1.1\r\nHost: test\r\n\r\n")
            client.reply()
        client.send(b"HEAD /page.txt?n HTTP/1.1\r\nHost: test\r\n\r\n")
        client.reply(head_only=True)
    server.wait_for(re.escape(f'{me} "HEAD /page.txt?n HTTP/1.1" 200 0'))
    mine = [line for line in server.output().splitlines() if line.startswith(me + " ")]
    assert mine == [f'{me} "GET /page.txt?n HTTP/1.1" 200 12'] * 5 \
        + [f'{me} "HEAD /page.txt?n HTTP/1.1" 200 0']
