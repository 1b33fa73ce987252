"""docs/scaling.md rests on one kernel fact: a VXLAN device made in one
network namespace (a pod's, with the cluster network) and then moved into
another (the lab node's) keeps carrying its traffic over the first, while
the node it is moved into has no route anywhere but its lab link. Checked
here on throw-away namespaces (root only); the "underlay" is a veth between
two of them on a documentation range, so nothing leaves this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def pods():
    tag = uuid.uuid4().hex[:6]
    names = {role: f"lbx{tag}{role}" for role in ("u1", "u2", "c1", "c2")}
    for n in names.values():
        ip("netns", "add", n)
    try:
        yield names
    finally:
        for n in names.values():
            subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)


def test_a_vxlan_moved_into_the_node_keeps_its_underlay_and_gives_no_route_out(pods):
    u1, u2, c1, c2 = pods["u1"], pods["u2"], pods["c1"], pods["c2"]
    ip("-n", u1, "link", "add", "e0", "type", "veth", "peer", "name", "e0", "netns", u2)
    for ns, addr in ((u1, "192.0.2.1/24"), (u2, "192.0.2.2/24")):
        ip("-n", ns, "addr", "add", addr, "dev", "e0")
        ip("-n", ns, "link", "set", "e0", "up")
    for ns, node, remote, addr in ((u1, c1, "192.0.2.2", "10.9.0.1/30"), (u2, c2, "192.0.2.1", "10.9.0.2/30")):
        ip("-n", ns, "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", remote, "dstport", "4789",
           "dev", "e0")
        ip("-n", ns, "link", "set", "vx0", "netns", node)
        ip("-n", node, "addr", "add", addr, "dev", "vx0")
        ip("-n", node, "link", "set", "vx0", "up")
    # the lab node's only route is its own link; the underlay is not there at all
    assert ip("-n", c1, "route").split() == ["10.9.0.0/30", "dev", "vx0", "proto", "kernel", "scope", "link",
                                             "src", "10.9.0.1"]
    assert "e0" not in ip("-n", c1, "link")
    # a datagram from one node reaches the other through the tunnel
    server = subprocess.Popen(
        ["ip", "netns", "exec", c2, sys.executable, "-c",
         "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.9.0.2', 9999)); "
         "s.settimeout(5); data, peer = s.recvfrom(100); s.sendto(data.upper(), peer)"])
    try:
        reply = subprocess.run(
            ["ip", "netns", "exec", c1, sys.executable, "-c",
             "import socket, time\n"
             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)\n"
             "for _ in range(15):\n"
             "    s.sendto(b'across', ('10.9.0.2', 9999))\n"
             "    try:\n"
             "        print(s.recv(100).decode()); break\n"
             "    except OSError:\n"
             "        time.sleep(0.1)\n"],
            capture_output=True, text=True, timeout=20)
    finally:
        server.kill()
        server.wait()
    assert reply.stdout.strip() == "ACROSS", reply.stderr
    # and it went over the underlay: the pod side counted the encapsulated packets
    (underlay,) = json.loads(ip("-n", u1, "-j", "-s", "link", "show", "e0"))
    assert underlay["stats64"]["tx"]["packets"] > 0
