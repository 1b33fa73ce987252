"""The real `dig` (Debian package bind9-dnsutils) against our server on
loopback, a free high port: A, AAAA, MX, CNAME, TXT, PTR, NXDOMAIN, TCP, a
truncated UDP answer that dig retries over TCP; then hostile clients
(garbage datagrams, a pointer loop over TCP, a byte-by-byte TCP client, too
many connections) after which dig is still answered."""

from __future__ import annotations

import copy
import os
import socket
import struct
import subprocess
import time

import pytest
from dnshelpers import EXAMPLE_ZONE, free_port, read_framed, require_tool

from labnode.dns import message as dm

MANY = 60  # A records of many.example.lab: more than 512 bytes


@pytest.fixture
def server(dns_server):
    zone = copy.deepcopy(EXAMPLE_ZONE)
    zone["records"] += [{"name": "many", "type": "A", "value": f"10.0.9.{i + 1}"} for i in range(MANY)]
    port = free_port()
    return dns_server({"listen": ["127.0.0.1"], "port": port, "zones": [zone],
                       "reverse": {"www.example.lab": ["10.0.1.10"]},
                       "tcp": {"max_connections": 8, "idle_timeout": 1.0}})


def dig(server, *args: str) -> str:
    tool = require_tool("dig", "bind9-dnsutils")
    done = subprocess.run([tool, "-4", "-p", str(server.port), f"@{server.address}", "+time=2", "+tries=1",
                           *args], capture_output=True, text=True, timeout=20)
    return done.stdout


def short(server, *args: str) -> list[str]:
    return dig(server, "+short", *args).split("\n")[:-1]


def test_dig_answers(server):
    assert short(server, "www.example.lab", "A") == ["10.0.1.10"]
    assert short(server, "www.example.lab", "AAAA") == ["fd00::10"]
    assert sorted(short(server, "example.lab", "MX")) == ["10 mail.example.lab.", "20 mx2.example.lab."]
    assert short(server, "mail.example.lab", "CNAME") == ["www.example.lab."]
    assert short(server, "mail.example.lab", "A") == ["www.example.lab.", "10.0.1.10"]
    assert short(server, "txt.example.lab", "TXT") == ['"hello"']
    assert short(server, "-x", "10.0.1.10") == ["www.example.lab."]
    full = dig(server, "www.example.lab")
    assert "status: NOERROR" in full and "flags: qr aa rd;" in full
    server.wait_for(r"127\.0\.0\.1 A www\.example\.lab -> NOERROR 1 answer \(authoritative\)")


def test_dig_nxdomain_nodata_refused(server):
    nx = dig(server, "nope.example.lab")
    assert "status: NXDOMAIN" in nx and "AUTHORITY: 1" in nx and "IN\tSOA\tns1.example.lab." in nx
    nodata = dig(server, "www.example.lab", "MX")
    assert "status: NOERROR" in nodata and "ANSWER: 0" in nodata and "SOA" in nodata
    assert "status: REFUSED" in dig(server, "www.example.com")


def test_dig_tcp_and_truncation(server):
    assert short(server, "+tcp", "www.example.lab") == ["10.0.1.10"]
    server.wait_for(r"A www\.example\.lab -> NOERROR 1 answer \(authoritative\) tcp")
    # no EDNS: 512 bytes; dig sees TC and asks again over TCP by itself
    full = dig(server, "+noedns", "many.example.lab")
    assert f"ANSWER: {MANY}" in full and "(TCP)" in full
    server.wait_for(r"A many\.example\.lab -> NOERROR 60 answers \(authoritative\) truncated")
    with_edns = dig(server, "+bufsize=4096", "many.example.lab")
    assert f"ANSWER: {MANY}" in with_edns and "(UDP)" in with_edns


def test_dig_referral(server):
    out = dig(server, "+norec", "www.sub.example.lab")
    assert "flags: qr;" in out and "ns.sub.example.lab.\t300\tIN\tA\t10.0.2.53" in out


# -- hostile clients -----------------------------------------------------------

def test_garbage_datagrams_then_dig(server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as garbage:  # its FORMERR replies go unread
        for i in range(300):
            garbage.sendto(os.urandom(i % 80), (server.address, server.port))
    loop = struct.pack("!6H", 9, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
    reply = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        for _ in range(5):  # UDP: the burst may have filled the server's receive buffer; ask again
            sock.sendto(loop, (server.address, server.port))
            try:
                reply = dm.decode(sock.recv(65535))
                break
            except TimeoutError:
                continue
    assert reply is not None and reply.id == 9 and reply.rcode == dm.FORMERR and reply.qr
    assert short(server, "www.example.lab") == ["10.0.1.10"]
    server.wait_for(r"-> FORMERR 0 answers \(compression pointer at byte 12 does not point backwards")


def test_tcp_pointer_loop_slow_client_and_connection_flood(server):
    address = (server.address, server.port)
    # a pointer loop over TCP: FORMERR, and the connection still serves a good query
    with socket.create_connection(address, timeout=5) as sock:
        loop = struct.pack("!6H", 7, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
        good = dm.encode(dm.query("www.example.lab", dm.A, id=8))
        sock.sendall(struct.pack("!H", len(loop)) + loop + struct.pack("!H", len(good)) + good)
        assert dm.decode(read_framed(sock)).rcode == dm.FORMERR
        assert dm.decode(read_framed(sock)).answers[0].data == "10.0.1.10"
    # a length under 12 bytes: closed
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"\x00\x03abc")
        assert sock.recv(100) == b""
    # a slow client, one byte at a time: dig is answered meanwhile, and the slow one is dropped
    slow = socket.create_connection(address, timeout=5)
    flood = []
    try:
        wire = dm.encode(dm.query("www.example.lab", dm.A))
        framed = struct.pack("!H", len(wire)) + wire
        closed = False
        for i in range(len(framed) - 1):
            try:
                slow.sendall(framed[i:i + 1])
            except OSError:
                closed = True
                break
            if i == 3:
                assert short(server, "www.example.lab") == ["10.0.1.10"]
            time.sleep(0.1)
        if not closed:
            assert slow.recv(100) == b""  # the idle timeout (1 s) closed it, the message unfinished
        # more connections than max_connections (8): the extra ones are closed, UDP still answered
        for _ in range(12):
            flood.append(socket.create_connection(address, timeout=5))
        assert short(server, "www.example.lab") == ["10.0.1.10"]
        dig(server, "+tcp", "www.example.lab")  # refused (connection reset): fine, the server lives on
        server.wait_for(r"TCP refused, 8 connections open")
    finally:
        slow.close()
        for sock in flood:
            sock.close()
    time.sleep(1.5)  # the flood's connections are gone (closed by us, or idle)
    assert short(server, "+tcp", "www.example.lab") == ["10.0.1.10"]


def test_stops_with_exit_0(server):
    assert server.stop() == 0
    assert "dns: stopping on SIGTERM" in server.output()


def test_bad_config_is_one_line_and_exit_1(tmp_path):
    from daemon_helpers import run_module

    path = tmp_path / "dns.json"
    path.write_text('{"zones": [{"origin": "x.lab", "records": [{"name": "a", "type": "A", "value": "1.2.3"}]}]}')
    done = run_module("labnode.dns.server", "--config", str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"dns: config {path}: zone x.lab: records[0] (a A): '1.2.3' is not an IPv4 address\n")
    path.write_text("{not json")
    done = run_module("labnode.dns.server", "--config", str(path))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "not valid JSON" in done.stderr
    done = run_module("labnode.dns.server", "--config", str(tmp_path / "missing.json"))
    assert done.returncode == 1 and "cannot read: No such file or directory" in done.stderr
