"""The applications over two in-memory stacks: HTTP server and GET client,
TCP echo, UDP echo, and the control protocol's request parsing."""
from __future__ import annotations

import hashlib
import os
import random

import pytest
from memnet import Wire

from labnode.stack import apps, control


def run_until(wire, done, steps=20000):
    for _ in range(steps):
        if done():
            return
        if wire.pump() == 0:
            wire.advance(0.05)
    raise AssertionError("did not finish")


@pytest.fixture
def www(tmp_path):
    (tmp_path / "www").mkdir()
    data = random.Random(1).randbytes(300_000)
    (tmp_path / "www" / "blob.bin").write_bytes(data)
    return tmp_path / "www", data


def get(wire, url, output=None, drop=None):
    results = []
    apps.HttpGet(wire.a, url, results.append, output=output)
    run_until(wire, lambda: results)
    return results[0]


def test_http_get_through_both_stacks(www, tmp_path):
    root, data = www
    wire = Wire()
    apps.HttpServer(wire.b, 80, str(root))
    out = tmp_path / "out.bin"
    result = get(wire, "http://10.0.0.2/blob.bin", output=str(out))
    assert result["ok"] and result["status"] == 200 and result["bytes"] == len(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest() and out.read_bytes() == data


def test_http_get_with_loss_arrives_intact(www):
    root, data = www
    wire = Wire()
    rng = random.Random(4)
    wire.drop = lambda name, frame: len(frame) > 100 and rng.random() < 0.03
    apps.HttpServer(wire.b, 80, str(root))
    result = get(wire, "http://10.0.0.2/blob.bin")
    assert result["ok"] and result["sha256"] == hashlib.sha256(data).hexdigest()
    assert wire.b.counters["tcp_retransmits"] > 0  # the server's losses were repaired


def test_http_errors_are_reported(www):
    root, _ = www
    wire = Wire()
    apps.HttpServer(wire.b, 80, str(root))
    missing = get(wire, "http://10.0.0.2/nope")
    assert not missing["ok"] and missing["status"] == 404 and missing["error"] == "HTTP status 404"
    refused = get(wire, "http://10.0.0.2:81/")
    assert not refused["ok"] and refused["error"] == "connection refused"


@pytest.mark.parametrize("url, message", [
    ("ftp://10.0.0.2/", "only http:// is supported"),
    ("http://example.org/", "the host must be an IPv4 address"),
    ("http://10.0.0.2:99999/", "bad URL"),
])
def test_bad_urls(url, message):
    results = []
    apps.HttpGet(Wire().a, url, results.append)
    assert not results[0]["ok"] and message in results[0]["error"]


def test_tcp_echo():
    wire = Wire()
    apps.TcpEcho(wire.b, 7)
    conn = wire.a.tcp_connect("10.0.0.2", 7)
    payload = os.urandom(200_000)
    got = bytearray()
    sent = 0

    def readable(c):
        while (d := c.recv()):
            got.extend(d)
    conn.on_readable = readable
    while sent < len(payload):
        sent += conn.send(payload[sent:sent + 65536])
        run_until(wire, lambda: conn.unsent == 0 or conn.writable)
    conn.shutdown()
    run_until(wire, lambda: conn.eof)
    assert bytes(got) == payload


def test_udp_echo():
    wire = Wire()
    apps.UdpEcho(wire.b, 7)
    sock = wire.a.udp_bind()
    sock.sendto(b"marco", ("10.0.0.2", 7))
    wire.pump()
    assert sock.recvfrom() == (b"marco", ("10.0.0.2", 7))


def test_ready_lines(www):
    root, _ = www
    lines = []
    wire = Wire(log=lines.append)
    apps.HttpServer(wire.b, 80, str(root))
    apps.TcpEcho(wire.b, 7)
    apps.UdpEcho(wire.b, 7)
    assert lines == ["http listening on 10.0.0.2:80", "echo listening on 10.0.0.2:7",
                     "udp-echo listening on 10.0.0.2:7"]


@pytest.mark.parametrize("line, message", [
    (b"", "not a JSON object"),
    (b"[" * 50, "nested deeper"),
    (b'{"command": "reboot"}', "unknown command 'reboot'"),
    (b'{"command": "arp", "x": 1}', "unknown key 'x' for arp"),
    (b'{"command": "get"}', "get needs a url"),
    (b'{"command": "get", "url": "http://1.2.3.4/", "timeout": 0}', "timeout must be"),
    (b"x" * 5000, "request longer than 4096 bytes"),
])
def test_control_requests_refused(line, message):
    with pytest.raises(control.RequestError, match=message.replace("[", r"\[")):
        control.parse_request(line)


def test_control_request_accepted():
    assert control.parse_request(b'{"command": "get", "url": "http://1.2.3.4/", "output": "/tmp/x"}')["url"] \
        == "http://1.2.3.4/"
