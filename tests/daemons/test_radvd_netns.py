"""labnode.radvd on a real link, in throw-away network namespaces:

    ns router  r0 ── veth ── h0  ns host
    forwarding=1              forwarding=0, accept_ra, autoconf
    python3 -m labnode.radvd

The host's kernel does SLAAC from our RAs; a script in the host's namespace
plays a host by hand (raw ICMPv6 socket) to solicit, to time the answers and
to send bad packets.  Both namespaces are deleted afterwards, pass or fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time

import pytest
from daemon_helpers import Netns, Proc, netns_marks, node_env, sh, veth

pytestmark = netns_marks()

PREFIX1 = "fd12:3456:789a:1::/64"
PREFIX2 = "fd12:3456:789a:2::/64"
P1 = PREFIX1.split("::")[0] + ":"      # "fd12:3456:789a:1:"
P2 = PREFIX2.split("::")[0] + ":"


@pytest.fixture
def link():
    """(router ns, host ns), joined by r0 <-> h0; r0 up (with duplicate address
    detection, as on a real node: the daemon has to wait for its link-local
    address), h0 still down."""
    made: list[Netns] = []
    try:
        for tag in "rh":
            made.append(Netns(tag, prefix="labt6-"))
        router, host = made
        veth(router, "r0", host, "h0")
        for ns, dev in ((router, "r0"), (host, "h0")):
            ns.sysctl("net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
                      f"net.ipv6.conf.{dev}.disable_ipv6=0")
        router.sysctl("net.ipv6.conf.all.forwarding=1")
        host.sysctl("net.ipv6.conf.all.forwarding=0", "net.ipv6.conf.h0.accept_ra=1",
                    "net.ipv6.conf.h0.autoconf=1", "net.ipv6.conf.h0.accept_dad=0")
        router.ip("link", "set", "r0", "up")
        yield router, host
    finally:
        for ns in made:
            ns.delete()


@pytest.fixture
def daemons():
    """start(ns, *args) -> Proc running labnode.radvd on r0; all stopped at teardown."""
    started: list[Proc] = []

    def start(ns: Netns, *args: str) -> Proc:
        proc = Proc(ns.exec_argv(sys.executable, "-m", "labnode.radvd", "--iface", "r0", *args))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_until(what: str, check, timeout: float = 8.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def slaac_addresses(host: Netns) -> dict[str, dict]:
    """The host's global addresses on h0: prefix of /64 -> the ip -j entry."""
    found = {}
    for link in host.ip_json("-6", "addr", "show", "dev", "h0"):
        for info in link.get("addr_info", []):
            if info.get("scope") == "global":
                found[info["local"]] = info
    return found


def default_routes(host: Netns) -> list[dict]:
    return host.ip_json("-6", "route", "show", "default", "dev", "h0")


def ready(proc: Proc) -> None:
    proc.wait_for(r"^radvd listening on r0 \(ff02::2\), advertising ", timeout=5)


def first_ra(proc: Proc, router: Netns) -> str:
    """The router's link-local address, from the first RA it logs (and
    checked against the kernel's)."""
    address = proc.wait_for(r"^RA to ff02::1 \(unsolicited\): RA from (fe80::[0-9a-f:]+) ", timeout=8)[1]
    local = [info["local"] for link in router.ip_json("-6", "addr", "show", "dev", "r0")
             for info in link["addr_info"] if info["scope"] == "link"]
    assert local == [address]
    return address


def test_host_configures_itself_and_forgets_the_router_when_it_stops(link, daemons):
    router, host = link
    proc = daemons(router, "--prefix", PREFIX1, "--prefix", PREFIX2, "--interval", "3",
                   "--lifetime", "1800", "--mtu", "1400")
    ready(proc)
    # The cable's other end is down: r0 has no carrier, so no link-local address to send from.
    proc.wait_for(r"^radvd: no usable link-local address on r0 \(no carrier\? .*\): RAs wait for one$")
    time.sleep(0.5)
    assert "RA to" not in proc.output()
    host.ip("link", "set", "h0", "up")
    router_ll = first_ra(proc, router)

    def both_prefixes():
        addresses = slaac_addresses(host)
        if any(a.startswith(P1) for a in addresses) and any(a.startswith(P2) for a in addresses):
            return addresses
        return None

    addresses = wait_until("SLAAC addresses in both prefixes", both_prefixes)
    for address, info in addresses.items():
        assert address.startswith((P1, P2)) and info["prefixlen"] == 64
        assert info.get("dynamic") is True, info          # made from an RA, expires
        assert 0 < info["valid_life_time"] <= 86400 and 0 < info["preferred_life_time"] <= 14400, info
    routes = wait_until("a default route", lambda: default_routes(host))
    assert [(r["gateway"], r["protocol"]) for r in routes] == [(router_ll, "ra")], routes
    assert 1700 < routes[0]["expires"] <= 1800
    assert host.read_sysctl("net.ipv6.conf.h0.mtu") == "1400"          # the MTU option
    assert re.search(r"^RA to ff02::1 \(unsolicited\): RA from fe80::\S+ \([0-9a-f:]{17}\), lifetime 1800 s,.*"
                     r"mtu 1400, prefix fd12:3456:789a:1::/64 \(on-link, autonomous", proc.output(), re.M)

    assert proc.stop() == 0
    out = proc.output()
    assert re.search(r"^RA to ff02::1 \(final\): RA from \S+ \(\S+\), lifetime 0 \(not a default router\)", out, re.M)
    assert out.rstrip().endswith("radvd: stopping on SIGTERM")
    wait_until("the default route to go", lambda: not default_routes(host), timeout=3)
    assert both_prefixes(), "the host keeps its addresses: only the router lifetime was 0"


# A host by hand, in the host's namespace: solicits on h0 and reports what
# came back (JSON on stdout).  argv: the router's MAC, then the steps.
HOST = textwrap.dedent("""
    import ipaddress, json, socket, struct, sys, time
    from labnode import icmp6
    from labnode.radvd import link_local, read_mac

    ll = None
    while ll is None:
        ll = link_local("h0")
        time.sleep(0.05)
    idx = socket.if_nametoindex("h0")
    mac = read_mac("h0")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"h0")
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                    socket.inet_pton(socket.AF_INET6, "ff02::1") + struct.pack("@I", idx))
    sock.bind((str(ll), 0, 0, idx))
    start = time.monotonic()
    heard = []

    def send(data, hops=255):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
        sock.sendto(data, ("ff02::2", 0, 0, idx))

    def listen(seconds):
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, anc, _, addr = sock.recvmsg(2000, 256)
            except TimeoutError:
                break
            if data[0] != icmp6.ROUTER_ADVERTISEMENT:
                continue
            hop = dst = None
            for level, kind, value in anc:
                if kind == socket.IPV6_HOPLIMIT:
                    hop = struct.unpack("@i", value[:4])[0]
                elif kind == socket.IPV6_PKTINFO:
                    dst = value[:16]
            ra = icmp6.parse(data)
            heard.append({"at": time.monotonic() - start, "src": addr[0].split("%")[0], "hop": hop,
                          "dst": str(ipaddress.IPv6Address(dst)), "checksum_ok": icmp6.verify(addr[0], dst, data),
                          "lifetime": ra.router_lifetime, "mac": ra.source_lladdr.hex(":"),
                          "prefixes": [str(p.prefix) for p in ra.prefixes]})

    rs = icmp6.build(icmp6.RouterSolicitation(source_lladdr=mac), ll, "ff02::2")
    for step in sys.argv[1:]:
        name, _, arg = step.partition("=")
        if name == "rs":                         # rs=N: N good solicitations, back to back
            for _ in range(int(arg)):
                send(rs)
        elif name == "listen":                   # listen=SECONDS: collect RAs
            listen(float(arg))
        elif name == "mark":                     # a point in time, in the report
            heard.append({"mark": arg, "at": time.monotonic() - start})
        elif name == "raw":                      # raw=HEX: an ICMPv6 message as it is
            send(bytes.fromhex(arg))
        elif name == "hops":                     # hops=N: a good RS with hop limit N
            send(rs, int(arg))
    print(json.dumps({"address": str(ll), "heard": heard}))
""")


def play_host(host: Netns, *steps: str) -> dict:
    done = subprocess.run(host.exec_argv(sys.executable, "-c", HOST, *steps), capture_output=True,
                          text=True, env=node_env(), timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def quiet_host(router: Netns, host: Netns, daemons, *args: str) -> tuple[Proc, str]:
    """The daemon started, its first (fast) RAs over, h0 up but its kernel
    neither soliciting nor configuring (accept_ra=0): only our script talks."""
    host.sysctl("net.ipv6.conf.h0.accept_ra=0")
    host.ip("link", "set", "h0", "up")
    proc = daemons(router, "--prefix", PREFIX1, "--interval", "60", *args)
    ready(proc)
    router_ll = first_ra(proc, router)
    wait_until("the first three RAs", lambda: proc.output().count("(unsolicited)") >= 3, timeout=5)
    return proc, router_ll


def test_a_solicitation_is_answered_at_once_and_a_burst_by_one_ra(link, daemons):
    router, host = link
    proc, router_ll = quiet_host(router, host, daemons, "--lifetime", "600")
    router_mac = mac_of(router, "r0")
    report = play_host(host, "rs=1", "listen=0.8", "mark=burst", "rs=5", "listen=2")
    heard = report["heard"]
    burst = next(i for i, e in enumerate(heard) if e.get("mark") == "burst")
    first, later = heard[:burst], heard[burst + 1:]
    assert len(first) == 1 and first[0]["at"] < 0.4, heard        # answered at once, by one RA
    ra = first[0]
    assert ra["src"] == router_ll and ra["dst"] == "ff02::1" and ra["hop"] == 255
    assert ra["checksum_ok"] and ra["mac"] == router_mac
    assert ra["lifetime"] == 600 and ra["prefixes"] == [PREFIX1]
    # Five RSs 0.8 s after the first answer: one more RA, not five, and not
    # before a second has passed since the first answer.
    assert len(later) == 1, heard
    assert 0.95 <= later[0]["at"] - ra["at"] < 1.6, heard
    out = proc.output()
    assert out.count(f"RS heard: RS (router solicitation) from {report['address']} ({mac_of(host, 'h0')})") == 6
    assert f"RA to ff02::1 (solicited by {report['address']} (5 RSs))" in out
    assert out.count("(solicited by") == 2 and out.count("(unsolicited)") == 3


def mac_of(ns: Netns, dev: str) -> str:
    return ns.ip_json("link", "show", dev)[0]["address"]


def icmp6_counter(ns: Netns, name: str) -> int:
    text = sh(*ns.exec_argv("cat", "/proc/net/snmp6"))
    return int(re.search(rf"^{name}\s+(\d+)$", text, re.M)[1])


SEND_BAD_CHECKSUM = textwrap.dedent("""
    # An RS with a wrong checksum, as a whole Ethernet frame (a raw ICMPv6
    # socket would have the kernel fix the checksum for us).
    import socket, struct
    from labnode import icmp6
    from labnode.radvd import link_local, read_mac
    ll, mac = link_local("h0"), read_mac("h0")
    rs = bytearray(icmp6.build(icmp6.RouterSolicitation(source_lladdr=mac), ll, "ff02::2"))
    rs[2] ^= 0x55
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(rs), 58, 255, ll.packed,
                      socket.inet_pton(socket.AF_INET6, "ff02::2"))
    frame = bytes.fromhex("333300000002") + mac + b"\\x86\\xdd" + ip6 + bytes(rs)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind(("h0", 0))
        raw.send(frame)
""")


def test_bad_packets_cost_a_log_line_each_never_the_daemon(link, daemons):
    router, host = link
    proc, _ = quiet_host(router, host, daemons)
    errors_before = icmp6_counter(router, "Icmp6InCsumErrors")
    done = subprocess.run(host.exec_argv(sys.executable, "-c", SEND_BAD_CHECKSUM), capture_output=True,
                          text=True, env=node_env(), timeout=20)
    assert done.returncode == 0, done.stderr
    mac = bytes.fromhex(mac_of(host, "h0").replace(":", ""))
    slla = "0101" + mac.hex()
    bad = {
        "8500000000000000" + "0100" + "00" * 6: "option type 1 has length 0",    # zero-length option
        "8500000000000000" + "0102" + mac.hex(): "claims 16 bytes, 8 left",     # option past the end
        "8501000000000000" + slla: "router solicitation with code 1",
        "85000000": "router solicitation of 4 bytes (at least 8)",
        "8500000000000000" + ("7f01" + "00" * 6) * 70: "more than 64 options",
    }
    report = play_host(host, "hops=64", *(f"raw={message}" for message in bad), "listen=0.5", "rs=1", "listen=0.8")
    out = proc.output()
    assert re.search(r"^bad RS from fe80::\S+: hop limit 64, not 255", out, re.M), out
    assert re.search(r"^bad RS from fe80::\S+: option type 1 has length 0 \(RFC 4861 4.6: drop the message\)$",
                     out, re.M), out
    for reason in bad.values():
        assert reason in out, (reason, out)
    assert out.count("bad RS from") == 1 + len(bad)
    # The wrong checksum never reached the daemon: the kernel checked it and counted it.
    assert "wrong checksum" not in out
    assert icmp6_counter(router, "Icmp6InCsumErrors") == errors_before + 1
    # None of that was answered; the good RS after it was, and the daemon runs on.
    assert len(report["heard"]) == 1 and report["heard"][0]["at"] > 0.4, report
    assert out.count("RS heard:") == 1 and proc.proc.poll() is None


def test_startup_mistakes_are_one_line_and_an_exit_status(link):
    router, _ = link

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(router.exec_argv(sys.executable, "-m", "labnode.radvd", *args), capture_output=True,
                              text=True, env=node_env(), timeout=20)

    done = run("--iface", "nope0", "--prefix", PREFIX1)
    assert done.returncode == 1 and done.stderr.strip() == "radvd: no interface nope0" and not done.stdout
    for prefix, says in [("fd12::1/64", "has host bits set"), ("fe80::/64", "link-local"),
                         ("fd12::/200", "not a valid netmask"), ("ff02::/64", "multicast")]:
        done = run("--iface", "r0", "--prefix", prefix)
        assert done.returncode == 2 and says in done.stderr, done.stderr
    done = run("--iface", "r0", "--prefix", PREFIX1, "--prefix", PREFIX1)
    assert done.returncode == 2 and "given twice" in done.stderr
    done = run("--iface", "../r0", "--prefix", PREFIX1)
    assert done.returncode == 2 and "not an interface name" in done.stderr
    done = run("--iface", "r0", "--prefix", PREFIX1, "--mtu", "1000")
    assert done.returncode == 2 and "1280" in done.stderr
