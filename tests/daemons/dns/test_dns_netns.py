"""A whole DNS tree of our servers on port 53 in a throw-away network
namespace, queried by the real `dig` (bind9-dnsutils):

    127.0.0.11  root ".":           . NS a.root.lab (+ glue), lab NS ns.lab (+ glue)
    127.0.0.12  TLD "lab":          example NS ns1.example (+ glue)
    127.0.0.13  "example.lab":      www A 10.0.1.10, ...
    127.0.0.20  the resolver:       root hint a.root.lab 127.0.0.11

`dig +trace @127.0.0.11` asks that server for ". NS" first, then looks up
the root server's (and each later server's) address with the system
resolver, which inside the namespace is our resolver
(/etc/netns/NAME/resolv.conf, mounted over /etc/resolv.conf by
`ip netns exec`), then follows the referrals itself.  The namespace has
only its loopback device: nothing can leave it.  Namespace and file are
removed at the end."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import uuid

import pytest
from dnshelpers import require_tool, tree_configs

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
]

ADDRS = {"root": "127.0.0.11", "tld": "127.0.0.12", "auth": "127.0.0.13", "resolver": "127.0.0.20"}


@pytest.fixture(scope="module")
def netns():
    require_tool("ip", "iproute2")
    name = f"lndns-{uuid.uuid4().hex[:6]}"
    etc = pathlib.Path("/etc/netns") / name
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=20)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True, timeout=20)
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text(f"nameserver {ADDRS['resolver']}\n")
        yield name
    finally:
        shutil.rmtree(etc, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20).stdout
    assert name not in listed and not etc.exists()


@pytest.fixture
def dns_tree(netns, dns_server):
    configs = tree_configs(ADDRS, 53)
    prefix = ["ip", "netns", "exec", netns]
    return {role: dns_server(configs[role], prefix=prefix) for role in ("root", "tld", "auth", "resolver")}


def dig_in(netns: str, *args: str) -> str:
    tool = require_tool("dig", "bind9-dnsutils")
    done = subprocess.run(["ip", "netns", "exec", netns, tool, "-4", "+time=2", "+tries=1", *args],
                          capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def test_dig_trace_walks_root_tld_authoritative(netns, dns_tree):
    out = dig_in(netns, "+trace", "+nodnssec", f"@{ADDRS['root']}", "www.example.lab")
    lines = [line for line in out.splitlines() if line and not line.startswith(";")]
    assert lines[0].split() == [".", "300", "IN", "NS", "a.root.lab."], out
    assert "lab.\t\t\t300\tIN\tNS\tns.lab." in out or any(
        line.split() == ["lab.", "300", "IN", "NS", "ns.lab."] for line in lines), out
    assert any(line.split() == ["example.lab.", "300", "IN", "NS", "ns1.example.lab."] for line in lines), out
    assert lines[-1].split() == ["www.example.lab.", "300", "IN", "A", "10.0.1.10"], out
    # each hop was answered by the server it should have been
    assert "from 127.0.0.11#53(a.root.lab)" in out and "from 127.0.0.12#53(ns.lab)" in out
    assert "from 127.0.0.13#53(ns1.example.lab)" in out
    dns_tree["auth"].wait_for(r"A www\.example\.lab -> NOERROR 1 answer \(authoritative\)")


def test_dig_through_the_resolver(netns, dns_tree):
    out = dig_in(netns, f"@{ADDRS['resolver']}", "mail.example.lab")
    assert "status: NOERROR" in out and "flags: qr rd ra;" in out, out
    assert "www.example.lab.\t300\tIN\tA\t10.0.1.10" in out
    out = dig_in(netns, f"@{ADDRS['resolver']}", "+tcp", "nope.example.lab")
    assert "status: NXDOMAIN" in out and "(TCP)" in out
    dns_tree["resolver"].wait_for(r"A nope\.example\.lab -> NXDOMAIN 0 answers \(recursion, \d+ quer")
