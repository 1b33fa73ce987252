"""The stack on a real TAP, bridged to a veth whose other end is a kernel
host in another namespace (stacknet.py draws it).  The kernel pings it,
curls its HTTP server, talks to its echo servers; its GET client fetches
from a kernel http.server; with 2 % loss both ways 5 MB still arrive
intact.  Needs root; every namespace and device is removed at the end,
also on failure."""
from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
from stacknet import KERNEL_IP, STACK_IP, StackNet, leftover_namespaces, netns_available

REASON = netns_available()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(REASON is not None, reason=REASON or "")]
BIG = 5 << 20


@pytest.fixture(scope="module")
def net():
    n = StackNet()
    try:
        n.create()
        (n.www / "big.bin").write_bytes(os.urandom(BIG))
        (n.www / "hello.txt").write_text("hello from the user-space stack\n")
        n.http_server_in_k(n.www)
        n.start_stack()
        yield n
    finally:
        n.close()
    assert leftover_namespaces(n.tag) == []


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def curl(net, path, *extra):
    return net.run_in(net.k, "curl", "-sS", "--max-time", "30", *extra, f"http://{STACK_IP}{path}")


def test_kernel_ping_is_answered(net):
    result = net.run_in(net.k, "ping", "-c", "2", "-i", "0.2", "-W", "2", STACK_IP)
    assert result.returncode == 0, result.stdout
    assert b"2 received" in result.stdout


def test_kernel_curl_gets_files_from_the_stack(net):
    small = curl(net, "/hello.txt")
    assert small.returncode == 0 and small.stdout == b"hello from the user-space stack\n"
    big = curl(net, "/big.bin")
    assert big.returncode == 0 and sha(big.stdout) == sha((net.www / "big.bin").read_bytes())
    head = curl(net, "/hello.txt", "-I")
    assert head.stdout.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 32" in head.stdout
    missing = curl(net, "/nothing", "-o", "/dev/null", "-w", "%{http_code}")
    assert missing.stdout == b"404"


def test_stack_get_client_fetches_from_a_kernel_server(net):
    result = net.get(f"http://{KERNEL_IP}:8000/big.bin")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["ok"] and reply["status"] == 200 and reply["bytes"] == BIG
    assert reply["sha256"] == sha((net.www / "big.bin").read_bytes())


def test_get_client_reports_failures(net):
    result = net.run_in(net.s, sys.executable, "-m", "labnode.stack.get", "--control", net.control,
                        f"http://{KERNEL_IP}:8001/")
    assert result.returncode == 1 and b"connection refused" in result.stderr


def test_tcp_and_udp_echo_and_closed_ports(net):
    script = f"""
import socket
s = socket.create_connection(("{STACK_IP}", 7), 5)
s.sendall(b"x" * 100000); s.shutdown(socket.SHUT_WR)
got = b""
while chunk := s.recv(65536):
    got += chunk
print(len(got))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
u.sendto(b"marco", ("{STACK_IP}", 7)); print(u.recvfrom(100)[0].decode())
u.connect(("{STACK_IP}", 9)); u.send(b"anyone?")
try:
    u.recv(100)
except ConnectionRefusedError:
    print("udp refused")
try:
    socket.create_connection(("{STACK_IP}", 81), 3)
except ConnectionRefusedError:
    print("tcp refused")
"""
    result = net.run_in(net.k, sys.executable, "-c", script)
    assert result.stdout.decode().split("\n")[:4] == ["100000", "marco", "udp refused", "tcp refused"], result.stderr


def test_inspection_commands(net):
    arp = net.cli("arp")
    assert arp.returncode == 0 and KERNEL_IP in arp.stdout.decode() and "reachable" in arp.stdout.decode()
    sockets = json.loads(net.cli("sockets", "--json").stdout)
    listening = {(s["proto"], s["local"]) for s in sockets if s["state"] in ("LISTEN", "UNCONN")}
    assert {("tcp", f"{STACK_IP}:80"), ("tcp", f"{STACK_IP}:7"), ("udp", f"{STACK_IP}:7")} <= listening
    stats = json.loads(net.cli("stats", "--json").stdout)
    assert stats["interface"]["address"] == f"{STACK_IP}/24" and stats["counters"]["icmp_echo_requests"] >= 2
    table = net.cli("stats").stdout.decode()
    assert "frames_in" in table and f"gateway {KERNEL_IP}" in table
    missing = net.run_in(net.s, sys.executable, "-m", "labnode.stack.cli", "--socket", "/nonexistent.sock", "arp")
    assert missing.returncode == 1 and b"cannot reach the stack at /nonexistent.sock" in missing.stderr


def test_five_megabytes_both_ways_with_two_percent_loss(net):
    net.stop_stack()
    net.start_stack(loss={"p": 0.02, "seed": 11, "direction": "both"})
    expected = sha((net.www / "big.bin").read_bytes())
    down = curl(net, "/big.bin")
    assert down.returncode == 0 and sha(down.stdout) == expected
    up = net.get(f"http://{KERNEL_IP}:8000/big.bin")
    reply = json.loads(up.stdout)
    assert reply["ok"] and reply["sha256"] == expected
    counters = json.loads(net.cli("stats", "--json").stdout)["counters"]
    assert counters["loss_dropped_rx"] > 0 and counters["loss_dropped_tx"] > 0
    assert counters["tcp_retransmits"] > 0


def test_sigterm_stops_cleanly(net):
    code = net.stop_stack()
    assert code == 0
    assert any("stopping on SIGTERM" in line for line in net.output)
    assert not os.path.exists(net.control)
