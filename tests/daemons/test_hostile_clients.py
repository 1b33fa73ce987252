"""One hostile client per service, over loopback: it may lose its own
connection (with one log line saying why), and everyone else is still served.

These are the inputs that used to take a whole server down: a 30 000-deep
JSON array on the chat server (RecursionError), an absolute request target
with a broken IPv6 host and a directory holding a non-UTF-8 file name on the
HTTP server (ValueError, UnicodeEncodeError)."""

from __future__ import annotations

import os
import re
import socket
import struct
import sys
import time

import pytest
from chat_peer import Peer
from daemon_helpers import Proc, connect, recv_all
from http_client import RawHttp, get

from labnode import chatproto
from labnode.httpparse import MAX_HEAD, MAX_HEADERS

DEEP = b"[" * 30000


def frame(payload: bytes) -> bytes:
    return struct.pack("!H", len(payload)) + payload


# -- chat -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat(module_service):
    return module_service("chat", "--hello-timeout", "2")


def chat_still_works(port: int, tag: str) -> None:
    """Two fresh clients join and exchange a message both ways."""
    a, b = Peer(port, f"{tag}-a"), Peer(port, f"{tag}-b")
    try:
        a.expect(lambda p: p == {"type": "join", "nick": f"{tag}-b"})
        a.say("ping")
        assert b.expect(lambda p: p["type"] == "chat") == {"type": "chat", "nick": f"{tag}-a", "message": "ping"}
        b.say("pong")
        assert a.expect(lambda p: p["type"] == "chat" and p["nick"] == f"{tag}-b")["message"] == "pong"
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("name, wire", [
    ("deep-array", frame(DEEP)),
    ("deep-object", frame(b'{"type":"chat","message":"x","x":' + b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"}")),
    ("deep-message", frame(b'{"type":"chat","message":' + DEEP + b"}")),
    ("huge-type", chatproto.encode({"type": "t" * 65000})),  # its reason must not be 65 000 characters
])
def test_hostile_chat_frame_costs_only_its_sender(chat, name, wire):
    watcher = Peer(chat.port, f"w-{name}")
    bad = Peer(chat.port, f"bad-{name}")
    watcher.expect(lambda p: p == {"type": "join", "nick": f"bad-{name}"})
    start = len(chat.lines)
    bad.send(wire)
    error = bad.expect(lambda p: p["type"] == "error")
    assert bad.closed()
    assert watcher.expect(lambda p: p["type"] == "leave") == {"type": "leave", "nick": f"bad-{name}"}
    watcher.say("after the attack")  # a client connected all along still chats
    assert watcher.expect(lambda p: p["type"] == "chat")["message"] == "after the attack"
    watcher.close()
    chat_still_works(chat.port, name)  # and new ones can join and talk
    assert chat.proc.poll() is None
    line = chat.wait_for(r"protocol error: (.*)", start=start)[1]
    assert line == error["reason"] and len(line) < 200  # one short line naming the reason


def test_the_measured_crash_frame_before_hello(chat):
    bad = connect(chat.port)
    bad.sendall(frame(DEEP))
    reply = recv_all(bad, timeout=3)
    bad.close()
    packet = chatproto.Decoder().packets(reply)[0]
    assert packet["type"] == "error" and "deeper than" in packet["reason"]
    chat_still_works(chat.port, "crash")


# -- http -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(module_service, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "www"
    (root / "odd").mkdir(parents=True)
    (root / "ok.txt").write_bytes(b"fine\n")
    (root / "odd" / "plain.txt").write_bytes(b"p")
    with open(os.path.join(os.fsencode(root / "odd"), b"latin-\xe9.txt"), "wb") as handle:
        handle.write(b"x")  # a name that is not UTF-8: listing it used to crash the server
    return module_service("http", "--root", str(root), "--timeout", "0.5")


def http_still_works(port: int) -> None:
    reply = get(port, "/ok.txt")
    assert reply.status == 200 and reply.body == b"fine\n"


@pytest.mark.parametrize("raw, status", [
    (b"GET http://[oops/ok.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400),    # urlsplit's ValueError
    (b"GET /" + DEEP + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Flood: 1\r\n" * (MAX_HEADERS + 50) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * (MAX_HEAD + 10) + b"\r\n\r\n", 431),
    (b"\r\n" * (MAX_HEAD // 2 + 100), 400),                            # blank lines, never a request
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 405),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\n", 405),
    (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: \xb2\r\n\r\n", 400),  # a latin-1 "digit"
])
def test_hostile_request_costs_only_its_connection(web, raw, status):
    with RawHttp(web.port) as bystander:  # a keep-alive client connected during the attack
        bystander.send(b"GET /ok.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        assert bystander.reply().status == 200
        with RawHttp(web.port) as bad:
            bad.send(raw)
            assert bad.reply().status == status
            assert bad.closed_by_peer()
        bystander.send(b"GET /ok.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        assert bystander.reply().body == b"fine\n"
    http_still_works(web.port)
    assert web.proc.poll() is None


def test_blank_line_trickle_is_closed_not_buffered(web):
    """CRLFs forever used to keep a connection (and its buffer) alive for good:
    no request to time out, yet never idle."""
    with RawHttp(web.port) as bad:
        bad.sock.setblocking(False)
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 3:
            try:
                bad.sock.send(b"\r\n")
                closed = bad.sock.recv(100) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            time.sleep(0.05)
        assert closed and time.monotonic() - started < 2  # --timeout 0.5
    http_still_works(web.port)


def test_listing_with_a_non_utf8_name_is_served(web):
    reply = get(web.port, "/odd/")
    assert reply.status == 200
    assert b'href="latin-%E9.txt"' in reply.body and b'href="plain.txt"' in reply.body
    assert get(web.port, "/odd/latin-%E9.txt").status == 400  # not UTF-8 once decoded: refused, not crashed
    http_still_works(web.port)


def test_formerly_fatal_request_is_logged_like_any_other(web):
    with RawHttp(web.port) as bad:
        bad.send(b"GET http://[x/ HTTP/1.1\r\nHost: t\r\n\r\n")
        bad.reply()
        me = f"127.0.0.1:{bad.local_port}"
    web.wait_for(re.escape(f'{me} "GET http://[x/ HTTP/1.1" 400'))
    assert "Traceback" not in web.output()


# -- select and udp-echo ---------------------------------------------------------

@pytest.fixture(scope="module")
def select_server(module_service):
    return module_service("select_server")


def test_select_survives_garbage_floods_and_resets(select_server):
    flood = connect(select_server.port)
    flood.setblocking(False)
    for data in (DEEP, os.urandom(200_000)):
        try:
            flood.send(data)
        except BlockingIOError:
            pass
    rst = connect(select_server.port)  # a client that vanishes with a RST mid-echo
    rst.sendall(b"x" * 10000)
    rst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rst.close()
    with connect(select_server.port) as other:
        other.sendall(b"still there?")
        assert other.recv(100) == b"still there?"
    flood.close()
    assert select_server.proc.poll() is None


@pytest.fixture(scope="module")
def udp_echo(module_service):
    return module_service("udp_echo")


def test_udp_echo_survives_hostile_datagrams(udp_echo):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hostile:
        for data in (b"", DEEP, os.urandom(65507), b"\x00" * 1000):
            hostile.sendto(data, ("127.0.0.1", udp_echo.port))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"normal", ("127.0.0.1", udp_echo.port))
        assert sock.recvfrom(100)[0] == b"normal"
    assert udp_echo.proc.poll() is None


# -- a bug while serving one client (injected) costs only that client -------------

FAULTS = {
    "http": """
from labnode.services import http as m
real = m.WebRoot.resolve
def resolve(self, target):
    if "boom" in target:
        raise RuntimeError("injected fault")
    return real(self, target)
m.WebRoot.resolve = resolve
""",
    "chat": """
from labnode.services import chat as m
real = m.ChatServer._handle
def handle(self, client, packet):
    if packet.get("message") == "boom":
        raise RuntimeError("injected fault")
    return real(self, client, packet)
m.ChatServer._handle = handle
""",
    "select_server": """
from labnode.services import select_server as m
real = m.log
def log(message, *args, **kwargs):
    if "boom" in message:
        raise RuntimeError("injected fault")
    return real(message, *args, **kwargs)
m.log = log
""",
    "udp_echo": """
from labnode.services import udp_echo as m
real = m.echo
def echo(sock, data, addr):
    if b"boom" in data:
        raise RuntimeError("injected fault")
    return real(sock, data, addr)
m.echo = echo
""",
}


@pytest.fixture
def faulty():
    """faulty(module, *args): the service with a bug that fires on "boom"."""
    started: list[Proc] = []

    def start(module: str, *args: str) -> Proc:
        code = FAULTS[module] + "import sys\nsys.exit(m.main(sys.argv[1:]))\n"
        proc = Proc([sys.executable, "-c", code, "--bind", "127.0.0.1", "--port", "0", *args])
        started.append(proc)
        proc.port = int(proc.wait_for(r"listening on 127\.0\.0\.1:(\d+)")[1])
        return proc

    yield start
    for proc in started:
        proc.stop()


def test_http_bug_gives_500_to_that_request_only(faulty, tmp_path):
    (tmp_path / "ok.txt").write_bytes(b"fine\n")
    server = faulty("http", "--root", str(tmp_path))
    with RawHttp(server.port) as bystander, RawHttp(server.port) as victim:
        victim.send(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
        assert victim.reply().status == 500
        assert victim.closed_by_peer()
        bystander.send(b"GET /ok.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        assert bystander.reply().body == b"fine\n"
        me = f"127.0.0.1:{victim.local_port}"
    server.wait_for(re.escape(f"{me}: internal error, connection closed: RuntimeError: injected fault"))
    assert "Traceback" not in server.output() and server.proc.poll() is None


def test_chat_bug_drops_that_client_only(faulty):
    server = faulty("chat")
    alice, bob, mallory = Peer(server.port, "alice"), Peer(server.port, "bob"), Peer(server.port, "mallory")
    try:
        mallory.say("boom")
        assert mallory.closed()
        assert alice.expect(lambda p: p["type"] == "leave") == {"type": "leave", "nick": "mallory"}
        alice.say("still here")
        assert bob.expect(lambda p: p["type"] == "chat") == {"type": "chat", "nick": "alice", "message": "still here"}
        server.wait_for(r"disconnected \(internal error: RuntimeError: injected fault\)")
        assert "Traceback" not in server.output()
    finally:
        for peer in (alice, bob, mallory):
            peer.close()


def test_select_bug_closes_that_client_only(faulty):
    server = faulty("select_server")
    with connect(server.port) as victim, connect(server.port) as other:
        victim.sendall(b"boom")
        assert recv_all(victim, timeout=3) == b""  # closed, not echoed
        other.sendall(b"hello")
        assert other.recv(100) == b"hello"
    server.wait_for(r"disconnected \(internal error: RuntimeError: injected fault\)")


def test_udp_echo_bug_costs_one_datagram(faulty):
    server = faulty("udp_echo")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"boom", ("127.0.0.1", server.port))
        sock.sendto(b"next", ("127.0.0.1", server.port))
        assert sock.recvfrom(100)[0] == b"next"
    server.wait_for(r"datagram dropped: RuntimeError: injected fault")
    assert server.proc.poll() is None
