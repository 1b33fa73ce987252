"""The http service over loopback: files, errors, confinement, connection handling."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from daemon_helpers import node_env, run_module
from http_client import RawHttp, get

SECRET = b"TOPSECRET-do-not-serve"
BIG = os.urandom(1_500_000)
FILES = {
    "index.html": b"<h1>home</h1>\n",
    "style.css": b"body{}\n",
    "app.js": b"console.log(1)\n",
    "data.json": b'{"a": 1}\n',
    "img.png": b"\x89PNG\r\n\x1a\nfake",
    "photo.jpg": b"\xff\xd8\xff fake",
    "anim.gif": b"GIF89a fake",
    "doc.pdf": b"%PDF-1.4 fake",
    "notes.txt": b"plain notes\n",
    "blob.weird": b"\x00\x01\x02",
    "big.bin": BIG,
    "sub/index.html": b"sub index\n",
    "empty/a file.txt": b"x",
    "empty/dir/keep": b"",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("http")
    (base / "secret.txt").write_bytes(SECRET)
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    root = base / "www"
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink(base / "secret.txt", root / "escape")            # file link out of the root
    os.symlink("../outside", root / "escdir")                   # directory link out
    os.symlink("notes.txt", root / "inlink")                    # link that stays inside
    os.symlink(base / "secret.txt", root / "sub" / "index.html.lnk")
    os.mkfifo(root / "pipe")
    return root


@pytest.fixture(scope="module")
def server(module_service, site):
    return module_service("http", "--root", str(site), "--timeout", "1")


@pytest.mark.parametrize("name, ctype", [
    ("index.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("data.json", "application/json"),
    ("img.png", "image/png"),
    ("photo.jpg", "image/jpeg"),
    ("anim.gif", "image/gif"),
    ("doc.pdf", "application/pdf"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("blob.weird", "application/octet-stream"),
])
def test_get_serves_file_with_type_and_length(server, name, ctype):
    reply = get(server.port, "/" + name)
    assert reply.status == 200
    assert reply.headers["content-type"] == ctype
    assert reply.headers["content-length"] == str(len(FILES[name]))
    assert reply.body == FILES[name]


def test_head_has_headers_but_no_body(server):
    with RawHttp(server.port) as client:
        client.send(b"HEAD /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = client.reply(head_only=True)
        assert reply.status == 200 and reply.headers["content-length"] == str(len(FILES["notes.txt"]))
        client.send(b"GET /data.json HTTP/1.1\r\nHost: t\r\n\r\n")  # same connection: no stray body
        assert client.reply().body == FILES["data.json"]


def test_missing_file_is_404_with_body(server):
    reply = get(server.port, "/nope.html")
    assert reply.status == 404
    assert b"404 Not Found" in reply.body
    assert reply.headers["content-type"].startswith("text/html")


def test_directory_serves_index_html(server):
    assert get(server.port, "/").body == FILES["index.html"]
    assert get(server.port, "/sub/").body == FILES["sub/index.html"]


def test_directory_without_slash_redirects(server):
    reply = get(server.port, "/sub?x=1")
    assert reply.status == 301
    assert reply.headers["location"] == "/sub/?x=1"


def test_directory_without_index_is_listed(server):
    reply = get(server.port, "/empty/")
    assert reply.status == 200
    assert b'href="a%20file.txt"' in reply.body and b'href="dir/"' in reply.body


def test_query_string_is_ignored_for_the_file(server):
    assert get(server.port, "/notes.txt?v=2#frag").body == FILES["notes.txt"]


def test_symlink_inside_root_is_served(server):
    assert get(server.port, "/inlink").body == FILES["notes.txt"]


@pytest.mark.parametrize("target", [
    "/../secret.txt",
    "/../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E/%2e%2e/etc/passwd",
    "/sub/../../secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/..\\secret.txt",
    "/escape",
    "/escdir/secret.txt",
    "/sub/index.html.lnk",
    "http://example/../secret.txt",
])
def test_paths_out_of_the_root_are_refused(server, target):
    reply = get(server.port, target)
    assert reply.status == 403
    assert SECRET not in reply.body


@pytest.mark.parametrize("target", ["//etc/passwd", "/%2Fetc%2Fpasswd", "/etc/passwd",
                                    "/%252e%252e/secret.txt"])
def test_absolute_looking_paths_stay_inside_the_root(server, target):
    reply = get(server.port, target)
    assert reply.status == 404
    assert b"root:" not in reply.body


def test_nul_byte_is_bad_request(server):
    assert get(server.port, "/notes.txt%00.html").status == 400


def test_fifo_is_not_opened(server):
    started = time.monotonic()
    assert get(server.port, "/pipe").status == 403
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\n folded: continuation\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",                        # 1.1 without Host
    b"GET / HTTP/x.y\r\nHost: t\r\n\r\n",
    b"GET notes.txt HTTP/1.1\r\nHost: t\r\n\r\n",     # not an absolute path
    b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello
])
def test_malformed_requests_get_400_and_close(server, raw):
    with RawHttp(server.port) as client:
        client.send(raw)
        reply = client.reply()
        assert reply.status == 400
        assert reply.headers["connection"] == "close"
        assert client.closed_by_peer()


def test_http2_version_is_505(server):
    with RawHttp(server.port) as client:
        client.send(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n")
        assert client.reply().status == 505


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_standard_methods_are_405_with_allow(server, method):
    reply = get(server.port, "/notes.txt", method=method)
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD"


def test_unknown_method_is_501(server):
    assert get(server.port, "/", method="BREW").status == 501


def test_request_with_body_is_answered_then_closed(server):
    with RawHttp(server.port) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        assert client.reply().status == 405
        assert client.closed_by_peer()


def test_huge_header_is_refused(server):
    with RawHttp(server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        assert client.reply().status == 431


def test_header_split_across_many_recvs(server):
    request = b"GET /notes.txt HTTP/1.1\r\nHost: split\r\nUser-Agent: slow\r\n\r\n"
    with RawHttp(server.port) as client:
        for i in range(0, len(request), 3):
            client.send(request[i:i + 3])
            time.sleep(0.005)
        reply = client.reply()
    assert reply.status == 200 and reply.body == FILES["notes.txt"]


def test_bare_lf_line_endings_are_accepted(server):
    with RawHttp(server.port) as client:
        client.send(b"GET /notes.txt HTTP/1.1\nHost: t\n\n")
        assert client.reply().body == FILES["notes.txt"]


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with RawHttp(server.port) as client:
        for name in ["notes.txt", "data.json", "index.html", "nope", "notes.txt"]:
            client.send(f"GET /{name} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            reply = client.reply()
            assert reply.headers["connection"] == "keep-alive"
            assert reply.status == (404 if name == "nope" else 200)


def test_pipelined_requests_are_answered_in_order(server):
    names = ["notes.txt", "data.json", "big.bin", "style.css"]
    with RawHttp(server.port) as client:
        client.send(b"".join(f"GET /{n} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for n in names))
        for name in names:
            assert client.reply().body == FILES[name]


def test_connection_close_is_honoured(server):
    with RawHttp(server.port) as client:
        client.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = client.reply()
        assert reply.headers["connection"] == "close"
        assert reply.body == FILES["notes.txt"]
        assert client.closed_by_peer(timeout=1)


def test_http10_closes_unless_keep_alive(server):
    with RawHttp(server.port) as client:
        client.send(b"GET /notes.txt HTTP/1.0\r\n\r\n")
        assert client.reply().headers["connection"] == "close"
        assert client.closed_by_peer(timeout=1)
    with RawHttp(server.port) as client:
        client.send(b"GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert client.reply().headers["connection"] == "keep-alive"
        client.send(b"GET /data.json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert client.reply().body == FILES["data.json"]


def test_big_file_is_streamed_intact(server):
    reply = get(server.port, "/big.bin")
    assert reply.headers["content-length"] == str(len(BIG))
    assert reply.body == BIG


def test_idle_client_is_disconnected(server):
    with RawHttp(server.port) as client:
        started = time.monotonic()
        assert client.closed_by_peer(timeout=4)
        assert 0.8 < time.monotonic() - started < 3


def test_slow_request_head_gets_408(server):
    with RawHttp(server.port) as client:
        client.send(b"GET /notes.txt HTTP/1.1\r\n")
        for _ in range(8):  # a byte every 0.2 s keeps the connection busy, not the request
            time.sleep(0.2)
            try:
                client.send(b"X")
            except OSError:
                break
        reply = client.reply()
        assert reply.status == 408
        assert client.closed_by_peer()


def test_stalled_and_slow_clients_do_not_block_others(server):
    stalled = RawHttp(server.port)
    stalled.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n")  # never finishes
    hog = RawHttp(server.port)
    for _ in range(20):                                       # never reads its replies
        hog.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    try:
        results = []

        def fetch():
            results.append(get(server.port, "/data.json").body)

        threads = [threading.Thread(target=fetch) for _ in range(30)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert results == [FILES["data.json"]] * 30
        assert time.monotonic() - started < 2
    finally:
        stalled.sock.close()
        hog.sock.close()


def test_access_log_has_one_line_per_request_with_client(server):
    with RawHttp(server.port) as client:
        client.send(b"GET /notes.txt?log=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        client.reply()
        client.send(b"GET /missing-for-log HTTP/1.1\r\nHost: t\r\n\r\n")
        client.reply()
        me = f"127.0.0.1:{client.local_port}"
    server.wait_for(re.escape(f'{me} "GET /missing-for-log HTTP/1.1" 404'))
    mine = [line for line in server.output().splitlines() if line.startswith(me + " ")]
    assert mine == [f'{me} "GET /notes.txt?log=1 HTTP/1.1" 200 {len(FILES["notes.txt"])}',
                    f'{me} "GET /missing-for-log HTTP/1.1" 404 {len(get(server.port, "/x").body)}']


@pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
def test_curl_fetches(server):
    out = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{server.port}/data.json"],
                         capture_output=True, timeout=10)
    assert out.returncode == 0 and out.stdout == FILES["data.json"]


@pytest.mark.skipif(not shutil.which("wget"), reason="wget not installed")
def test_wget_fetches(server, tmp_path):
    out = subprocess.run(["wget", "-q", "-T", "5", "-O", str(tmp_path / "got"),
                          f"http://127.0.0.1:{server.port}/big.bin"], timeout=10)
    assert out.returncode == 0 and (tmp_path / "got").read_bytes() == BIG


def test_missing_root_is_a_startup_error(tmp_path):
    done = run_module("labnode.services.http", "--bind", "127.0.0.1", "--port", "0",
                      "--root", str(tmp_path / "absent"), timeout=10)
    assert done.returncode == 1
    assert "not a directory" in done.stdout + done.stderr


def test_sigterm_stops_cleanly(start_service, site):
    service = start_service("http", "--root", str(site))
    assert service.stop() == 0
    assert "stopping on SIGTERM" in service.output()


def test_ipv6_loopback(site):
    proc = subprocess.Popen([sys.executable, "-m", "labnode.services.http", "--bind", "::1",
                             "--port", "0", "--root", str(site)], stdout=subprocess.PIPE,
                            text=True, env=node_env())
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"\[::1\]:(\d+)", line)[1])
        with socket.create_connection(("::1", port), timeout=3) as sock:
            sock.sendall(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(FILES["notes.txt"])
    finally:
        proc.terminate()
        proc.wait(5)
