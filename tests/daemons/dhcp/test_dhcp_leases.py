"""The lease table (labnode.dhcp.leases) and the server's decisions
(labnode.dhcp.server.Server.handle, no sockets), with an injected clock."""
from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labnode.dhcp import message as m
from labnode.dhcp.leases import DECLINE_HOLD, OFFER_HOLD, LeaseFileError, Leases, Nak
from labnode.dhcp.server import ConfigError, Link, Server, parse_config

A = ipaddress.IPv4Address
MAC1, MAC2, MAC9 = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:09"

NODE = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"  # (conftest puts it on sys.path)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


CONFIG = {"interfaces": ["eth0"], "server_id": "10.0.1.1",
          "pools": [{"subnet": "10.0.1.0/24", "range": ["10.0.1.100", "10.0.1.102"], "router": "10.0.1.1",
                     "dns": ["10.0.1.53"], "domain": "lab", "lease": 100,
                     "reservations": [{"mac": MAC9, "address": "10.0.1.50", "hostname": "pc9"}]},
                    {"subnet": "10.0.2.0/24", "range": ["10.0.2.100", "10.0.2.199"], "lease": 50}]}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def table(clock):
    return Leases(clock)


@pytest.fixture
def pool():
    return parse_config(CONFIG).pools[0]


def test_allocation_is_lowest_free_and_stable(table, pool):
    first = table.offer(pool, MAC1)
    assert first is not None and first.address == A("10.0.1.100") and first.state == "offered"
    assert table.offer(pool, MAC1).address == A("10.0.1.100")    # the same offer again
    assert table.offer(pool, MAC2).address == A("10.0.1.101")
    bound = table.request(pool, MAC1, A("10.0.1.100"), "pc1")
    assert bound.state == "bound" and bound.hostname == "pc1" and bound.expires == table.clock() + 100


def test_requested_address_is_honoured_if_free(table, pool):
    assert table.offer(pool, MAC1, A("10.0.1.102")).address == A("10.0.1.102")
    assert table.offer(pool, MAC2, A("10.0.1.102")).address == A("10.0.1.100")  # taken: another
    assert table.offer(pool, MAC2, A("10.9.9.9")).address == A("10.0.1.100")    # not ours: ignored


def test_pool_exhaustion(table, pool):
    for i in range(3):
        assert table.offer(pool, f"02:00:00:00:01:{i:02x}") is not None
    assert table.offer(pool, MAC2) is None


def test_reservation(table, pool):
    assert table.offer(pool, MAC9).address == A("10.0.1.50")
    lease = table.request(pool, MAC9, A("10.0.1.50"))
    assert lease.hostname == "pc9"
    with pytest.raises(Nak, match="reserved address 10.0.1.50"):
        table.request(pool, MAC9, A("10.0.1.100"))
    table.release(MAC9, A("10.0.1.50"))
    with pytest.raises(Nak, match="reserved for another client"):   # MAC9's, never anyone else's
        table.request(pool, MAC1, A("10.0.1.50"))


def test_offers_are_held_briefly(table, pool, clock):
    table.offer(pool, MAC1)
    assert table.offer(pool, MAC2).address == A("10.0.1.101")
    assert table.offer(pool, MAC2).address == A("10.0.1.101")   # its own offer, again
    clock.now += OFFER_HOLD + 1
    assert table.offer(pool, "02:00:00:00:00:03").address == A("10.0.1.100")  # both forgotten
    assert table.offer(pool, MAC2).address == A("10.0.1.101")


def test_expiry_and_affinity(table, pool, clock):
    table.offer(pool, MAC1)
    table.request(pool, MAC1, A("10.0.1.100"))
    clock.now += 99
    assert table.expire() == []
    clock.now += 2
    expired = table.expire()
    assert [lease.address for lease in expired] == [A("10.0.1.100")] and expired[0].state == "expired"
    assert table.offer(pool, MAC1).address == A("10.0.1.100")   # it gets its old address back
    # an expired lease is free for others once the never-used addresses are gone
    table.request(pool, MAC1, A("10.0.1.100"))
    clock.now += 200
    table.expire()
    table.offer(pool, MAC2)
    table.request(pool, MAC2, A("10.0.1.101"))
    table.request(pool, "02:00:00:00:00:03", A("10.0.1.102"))
    assert table.offer(pool, "02:00:00:00:00:04").address == A("10.0.1.100")


def test_renewal_extends(table, pool, clock):
    table.request(pool, MAC1, A("10.0.1.100"))
    clock.now += 60
    assert table.request(pool, MAC1, A("10.0.1.100")).expires == clock.now + 100


def test_release(table, pool):
    table.request(pool, MAC1, A("10.0.1.100"))
    assert table.release(MAC2, A("10.0.1.100")) is None          # not its lease
    assert table.release(MAC1, A("10.0.1.100")).state == "released"
    assert table.request(pool, MAC2, A("10.0.1.100")).mac == MAC2  # free again


def test_decline_keeps_the_address_back(table, pool, clock):
    table.request(pool, MAC1, A("10.0.1.100"))
    assert table.decline(MAC2, A("10.0.1.100")) is None
    assert table.decline(MAC1, A("10.0.1.100")).state == "declined"
    assert table.offer(pool, MAC1).address == A("10.0.1.101")
    with pytest.raises(Nak, match="not free"):
        table.request(pool, MAC2, A("10.0.1.100"))
    clock.now += DECLINE_HOLD + 1
    table.expire()
    assert A("10.0.1.100") not in table.table


def test_nak_for_foreign_or_taken_addresses(table, pool):
    with pytest.raises(Nak, match="10.0.9.9 is not in 10.0.1.0/24"):
        table.request(pool, MAC1, A("10.0.9.9"))
    with pytest.raises(Nak, match="not in our range"):
        table.request(pool, MAC1, A("10.0.1.20"))
    table.request(pool, MAC1, A("10.0.1.100"))
    with pytest.raises(Nak, match="not free"):
        table.request(pool, MAC2, A("10.0.1.100"))


def test_one_bound_address_per_client(table, pool):
    table.request(pool, MAC1, A("10.0.1.100"))
    table.request(pool, MAC1, A("10.0.1.101"))
    assert table.table[A("10.0.1.100")].state == "released"


# -- persistence ----------------------------------------------------------------

def test_persistence_round_trip(tmp_path, table, pool, clock):
    table.request(pool, MAC1, A("10.0.1.100"), "pc1")
    table.request(pool, MAC2, A("10.0.1.101"))
    table.release(MAC2, A("10.0.1.101"))
    table.offer(pool, "02:00:00:00:00:03")                       # offers are not saved
    table.request(pool, MAC9, A("10.0.1.50"))
    table.decline(MAC9, A("10.0.1.50"))
    path = tmp_path / "sub" / "leases.json"
    table.save(str(path))
    assert not table.changed
    assert [p.name for p in path.parent.iterdir()] == ["leases.json"]  # no temporary left
    again = Leases(clock)
    again.load(str(path))
    assert {a: (x.mac, x.state, x.expires, x.hostname) for a, x in again.table.items()} == {
        a: (x.mac, x.state, x.expires, x.hostname) for a, x in table.table.items() if x.state != "offered"}
    assert len(again.table) == 3
    missing = Leases(clock)
    missing.load(str(tmp_path / "none.json"))
    assert missing.table == {}


GOOD = {"address": "10.0.1.100", "mac": MAC1, "hostname": None, "state": "bound", "expires": 1.0}


@pytest.mark.parametrize("content, text", [
    (b"{", "is not valid JSON"),
    (b"\xff\xfe", "is not valid JSON: not valid UTF-8"),
    (b"[" * 100 + b"]" * 100, "nested deeper"),
    (b"[]", 'expected {"version": 1'),
    (json.dumps({"version": 2, "leases": []}).encode(), 'expected {"version": 1'),
    (json.dumps({"version": 1, "leases": [1]}).encode(), "leases[0] is not an object"),
    (json.dumps({"version": 1, "leases": [{**GOOD, "address": "10.0.1.300"}]}).encode(),
     "leases[0].address: not an IPv4 address"),
    (json.dumps({"version": 1, "leases": [{**GOOD, "mac": "nope"}]}).encode(), "leases[0].mac"),
    (json.dumps({"version": 1, "leases": [{**GOOD, "state": "offered"}]}).encode(), "leases[0].state"),
    (json.dumps({"version": 1, "leases": [{**GOOD, "expires": "soon"}]}).encode(), "leases[0].expires"),
    (json.dumps({"version": 1, "leases": [{**GOOD, "expires": True}]}).encode(), "leases[0].expires"),
    (json.dumps({"version": 1, "leases": [{**GOOD, "hostname": "a b"}]}).encode(), "leases[0].hostname"),
    (json.dumps({"version": 1, "leases": [{**GOOD, "x": 1}]}).encode(), "unknown key 'x'"),
    (json.dumps({"version": 1, "leases": [GOOD, GOOD]}).encode(), "appears twice"),
])
def test_corrupt_lease_file_is_refused_cleanly(tmp_path, content, text):
    path = tmp_path / "leases.json"
    path.write_bytes(content)
    with pytest.raises(LeaseFileError) as info:
        Leases().load(str(path))
    assert text in str(info.value) and str(path) in str(info.value)


def test_huge_lease_file_is_refused(tmp_path):
    path = tmp_path / "leases.json"
    path.write_bytes(b" " * (9 << 20))
    with pytest.raises(LeaseFileError, match="larger than"):
        Leases().load(str(path))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_random_lease_files_raise_only_lease_file_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("l") / "leases.json"
    path.write_bytes(content)
    try:
        Leases().load(str(path))
    except LeaseFileError:
        pass


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(NODE), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "labnode.dhcp.cli", *args], capture_output=True,
                          text=True, env=env, timeout=20)


def test_cli_lists_the_file(tmp_path, pool):
    table = Leases()
    table.request(pool, MAC1, A("10.0.1.100"), "pc1")
    table.request(pool, MAC2, A("10.0.1.101"))
    table.release(MAC2, A("10.0.1.101"))
    path = tmp_path / "leases.json"
    table.save(str(path))
    out = run_cli("leases", "--file", str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["address", "mac", "hostname", "state", "expires"]
    assert lines[1].split()[:4] == ["10.0.1.100", MAC1, "pc1", "bound"] and lines[1].endswith(" s")
    assert lines[2].split() == ["10.0.1.101", MAC2, "-", "released", "-"]
    rows = json.loads(run_cli("leases", "--json", "--file", str(path)).stdout)
    assert rows[0]["address"] == "10.0.1.100" and 90 <= rows[0]["expires_in"] <= 100
    path.write_text("{")
    bad = run_cli("leases", "--file", str(path))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not valid JSON" in bad.stderr


# -- the server's decisions -------------------------------------------------------

LINK = Link("eth0", A("10.0.1.1"))


def request(kind: int, mac: str = MAC1, **fields) -> bytes:
    options = fields.pop("options", {})
    msg = m.DhcpMessage(xid=42, chaddr=m.parse_mac(mac), **fields)
    msg.set_type(kind)
    msg.options.update(options)
    return m.encode(msg)


@pytest.fixture
def server(clock):
    return Server(parse_config(CONFIG), Leases(clock))


def reply(server, data, link=LINK):
    answer, text = server.handle(data, link)
    return (m.decode(answer.data), answer.to, text) if answer else (None, None, text)


def test_discover_request_ack(server):
    offer, to, text = reply(server, request(m.DISCOVER))
    assert text == f"DISCOVER from {MAC1} via eth0" and to == ("255.255.255.255", 68)
    assert offer.type == m.OFFER and offer.yiaddr == A("10.0.1.100") and offer.xid == 42
    assert offer.options[m.SUBNET_MASK] == m.ip_bytes("255.255.255.0")
    assert offer.options[m.ROUTER] == m.ip_bytes("10.0.1.1")
    assert offer.options[m.DNS] == m.ip_bytes("10.0.1.53") and offer.options[m.DOMAIN] == b"lab"
    assert offer.options[m.SERVER_ID] == m.ip_bytes("10.0.1.1")
    assert offer.options[m.LEASE_TIME] == m.u32(100)
    ack, to, _ = reply(server, request(m.REQUEST, options={
        m.SERVER_ID: m.ip_bytes("10.0.1.1"), m.REQUESTED_IP: m.ip_bytes("10.0.1.100")}))
    assert ack.type == m.ACK and ack.yiaddr == A("10.0.1.100")
    assert ack.options[m.RENEWAL_T1] == m.u32(50) and ack.options[m.REBINDING_T2] == m.u32(87)
    # renewing: unicast to ciaddr
    ack, to, _ = reply(server, request(m.REQUEST, ciaddr=A("10.0.1.100")))
    assert ack.type == m.ACK and to == ("10.0.1.100", 68) and ack.ciaddr == A("10.0.1.100")


def test_request_for_another_server_drops_our_offer(server):
    reply(server, request(m.DISCOVER))
    answer, _, text = reply(server, request(m.REQUEST, options={
        m.SERVER_ID: m.ip_bytes("10.0.1.2"), m.REQUESTED_IP: m.ip_bytes("10.0.1.100")}))
    assert answer is None and "chose server 10.0.1.2" in text
    assert server.leases.table == {}


def test_a_shared_pool_is_silent_to_a_request_for_the_other_servers_range(clock):
    config = {**CONFIG, "pools": [{**CONFIG["pools"][0], "shared": True}]}
    server = Server(parse_config(config), Leases(clock))
    # init-reboot of the other server's client (an address of the subnet outside our range): no record here
    answer, _, text = reply(server, request(m.REQUEST, options={m.REQUESTED_IP: m.ip_bytes("10.0.1.160")}))
    assert answer is None and "10.0.1.160 is not in our range of a shared subnet: silent" in text
    # one addressed to us (its server id) is still refused, and a wrong subnet is still a NAK
    nak, _, _ = reply(server, request(m.REQUEST, options={
        m.SERVER_ID: m.ip_bytes("10.0.1.1"), m.REQUESTED_IP: m.ip_bytes("10.0.1.160")}))
    assert nak.type == m.NAK
    nak, _, _ = reply(server, request(m.REQUEST, options={m.REQUESTED_IP: m.ip_bytes("192.168.5.5")}))
    assert nak.type == m.NAK
    # the one pool not shared answers the same request with a NAK
    nak, _, _ = reply(Server(parse_config(CONFIG), Leases(clock)),
                      request(m.REQUEST, options={m.REQUESTED_IP: m.ip_bytes("10.0.1.160")}))
    assert nak.type == m.NAK and b"not in our range" in nak.options[m.MESSAGE]
    with pytest.raises(ConfigError, match=r"pools\[0\]\.shared: expected true or false"):
        parse_config({**CONFIG, "pools": [{**CONFIG["pools"][0], "shared": "yes"}]})


def test_init_reboot_nak_for_wrong_subnet(server):
    nak, to, _ = reply(server, request(m.REQUEST, options={m.REQUESTED_IP: m.ip_bytes("192.168.5.5")}))
    assert nak.type == m.NAK and nak.yiaddr == m.ZERO and to == ("255.255.255.255", 68)
    assert m.LEASE_TIME not in nak.options and b"not in 10.0.1.0/24" in nak.options[m.MESSAGE]
    nak, _, _ = reply(server, request(m.REQUEST, ciaddr=A("10.0.1.20")))   # renewing: not ours
    assert nak.type == m.NAK


def test_relayed_request_picks_the_pool_by_giaddr(server):
    offer, to, text = reply(server, request(m.DISCOVER, giaddr=A("10.0.2.1"), hops=1,
                                            options={m.RELAY_AGENT_INFO: b"\x01\x04eth1"}))
    assert to == ("10.0.2.1", 67) and "via relay 10.0.2.1" in text
    assert offer.yiaddr == A("10.0.2.100") and offer.giaddr == A("10.0.2.1")
    assert offer.options[m.SUBNET_MASK] == m.ip_bytes("255.255.255.0")
    assert offer.options[m.RELAY_AGENT_INFO] == b"\x01\x04eth1"     # echoed
    nak, to, _ = reply(server, request(m.REQUEST, giaddr=A("10.0.2.1"),
                                       options={m.REQUESTED_IP: m.ip_bytes("10.0.1.100")}))
    assert nak.type == m.NAK and nak.broadcast and to == ("10.0.2.1", 67)
    none, _, text = reply(server, request(m.DISCOVER, giaddr=A("10.0.7.1")))
    assert none is None and "no pool for 10.0.7.1" in text


def test_release_decline_inform(server):
    reply(server, request(m.REQUEST, options={m.REQUESTED_IP: m.ip_bytes("10.0.1.100")}))
    assert server.leases.table[A("10.0.1.100")].state == "bound"
    none, _, text = reply(server, request(m.RELEASE, ciaddr=A("10.0.1.100")))
    assert none is None and text.endswith("10.0.1.100 released")
    reply(server, request(m.REQUEST, options={m.REQUESTED_IP: m.ip_bytes("10.0.1.100")}))
    _, _, text = reply(server, request(m.DECLINE, options={m.REQUESTED_IP: m.ip_bytes("10.0.1.100")}))
    assert text.endswith("10.0.1.100 marked in use")
    assert server.leases.table[A("10.0.1.100")].state == "declined"
    ack, to, _ = reply(server, request(m.INFORM, MAC2, ciaddr=A("10.0.1.77")))
    assert ack.type == m.ACK and ack.yiaddr == m.ZERO and to == ("10.0.1.77", 68)
    assert m.LEASE_TIME not in ack.options and ack.options[m.ROUTER] == m.ip_bytes("10.0.1.1")


def test_replies_and_odd_requests_are_ignored(server):
    data = bytearray(request(m.OFFER))
    data[0] = m.BOOTREPLY
    assert reply(server, bytes(data))[0] is None
    assert reply(server, request(77))[0] is None
    with pytest.raises(m.DhcpError):
        server.handle(b"junk", LINK)


def test_reservation_hostname_is_sent(server):
    offer, _, _ = reply(server, request(m.DISCOVER, MAC9))
    assert offer.yiaddr == A("10.0.1.50") and offer.options[m.HOSTNAME] == b"pc9"


@settings(max_examples=500, deadline=None)
@given(st.integers(1, 8), st.dictionaries(st.sampled_from([50, 54, 12, 61, 82, 57, 55]),
                                          st.binary(max_size=8), max_size=5),
       st.sampled_from([m.ZERO, A("10.0.1.100"), A("10.0.2.1"), A("1.2.3.4")]),
       st.sampled_from([m.ZERO, A("10.0.2.1"), A("10.0.5.1")]))
def test_random_requests_never_break_the_server(kind, options, ciaddr, giaddr):
    srv = Server(parse_config(CONFIG), Leases(Clock()))
    for _ in range(2):
        try:
            srv.handle(request(kind, options=options, ciaddr=ciaddr, giaddr=giaddr), LINK)
        except m.DhcpError:
            pass  # e.g. a reply too big for a 576-byte message


# -- configuration --------------------------------------------------------------

def edited(path: str, value):
    data = json.loads(json.dumps(CONFIG))
    where = data
    keys = path.split(".")
    for key in keys[:-1]:
        where = where[int(key)] if key.isdigit() else where[key]
    if value is KeyError:
        del where[keys[-1]]
    else:
        where[keys[-1]] = value
    return data


@pytest.mark.parametrize("path, value, text", [
    ("interfaces", [], "interfaces: at least one"),
    ("interfaces", ["eth0", "eth0"], "listed twice"),
    ("interfaces", ["a b"], "interfaces[0]: not an interface name"),
    ("pools", KeyError, "config.pools: missing"),
    ("colour", "red", "config.colour: unknown key"),
    ("pools.0.subnet", "10.0.1.0/33", "pools[0].subnet"),
    ("pools.0.subnet", "10.0.1.1/24", "pools[0].subnet"),
    ("pools.0.range", ["10.0.1.100"], "pools[0].range: expected [first, last]"),
    ("pools.0.range", ["10.0.1.200", "10.0.1.100"], "comes after"),
    ("pools.0.range", ["10.0.1.100", "10.0.3.1"], "pools[0].range[1]: 10.0.3.1 is not a host address"),
    ("pools.0.router", "10.0.1.255", "pools[0].router"),
    ("pools.0.dns", ["x"], "pools[0].dns[0]: not an IPv4 address"),
    ("pools.0.domain", "bad domain", "pools[0].domain"),
    ("pools.0.lease", 5, "pools[0].lease"),
    ("pools.0.lease", True, "pools[0].lease"),
    ("pools.0.reservations", [{"mac": "x", "address": "10.0.1.5"}], "reservations[0].mac"),
    ("pools.0.reservations", [{"mac": MAC1, "address": "10.0.9.5"}], "reservations[0].address"),
    ("pools.0.reservations", [{"mac": MAC1, "address": "10.0.1.5"}, {"mac": MAC1, "address": "10.0.1.6"}],
     "reserved twice"),
    ("pools.1.subnet", "10.0.0.0/16", "pools[1].subnet: 10.0.0.0/16 overlaps pools[0]"),
    ("server_id", "nope", "server_id: not an IPv4 address"),
    ("lease_file", 7, "lease_file"),
])
def test_bad_config_names_the_key(path, value, text):
    with pytest.raises(ConfigError) as info:
        parse_config(edited(path, value))
    assert text in str(info.value)


def test_bad_config_file_is_one_line_and_exit_1(tmp_path):
    path = tmp_path / "dhcp.json"
    path.write_text(json.dumps(edited("pools.0.lease", "long")))
    env = dict(os.environ, PYTHONPATH=str(NODE), PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run([sys.executable, "-m", "labnode.dhcp.server", "--config", str(path)],
                            capture_output=True, text=True, env=env, timeout=20)
    assert result.returncode == 1
    assert result.stderr == "dhcp: config: pools[0].lease: expected whole seconds, 10 to 2147483647\n"
    path.write_text("[[[")
    result = subprocess.run([sys.executable, "-m", "labnode.dhcp.relay", "--config", str(path)],
                            capture_output=True, text=True, env=env, timeout=20)
    assert result.returncode == 1 and result.stderr.startswith("dhcp-relay: config: ")
    assert result.stderr.count("\n") == 1


# -- the relay's decisions ----------------------------------------------------------

def test_relay_sets_giaddr_and_hands_replies_back():
    from labnode.dhcp.relay import Relay, Side
    from labnode.dhcp.relay import parse_config as relay_config
    config = relay_config({"listen": ["eth1"], "servers": ["10.0.0.1"], "agent_info": True})
    side = Side("eth1", A("10.0.2.1"), None, None)  # type: ignore[arg-type]
    relay = Relay(config, [side])
    up, text = relay.from_client(request(m.DISCOVER), side)
    sent = m.decode(up)
    assert sent.giaddr == A("10.0.2.1") and sent.hops == 1
    assert m.decode_suboptions(sent.options[m.RELAY_AGENT_INFO]) == {1: b"eth1"}
    assert relay.from_client(request(m.DISCOVER, hops=4), side)[0] is None
    offer = m.DhcpMessage(op=m.BOOTREPLY, xid=1, chaddr=m.parse_mac(MAC1), giaddr=A("10.0.2.1"),
                          yiaddr=A("10.0.2.100"), options={m.RELAY_AGENT_INFO: b"\x01\x04eth1"})
    offer.set_type(m.OFFER)
    got_side, down, to, text = relay.from_server(m.encode(offer))
    assert got_side is side and to == ("255.255.255.255", 68)
    assert m.RELAY_AGENT_INFO not in m.decode(down).options
    offer.giaddr = A("10.0.3.1")
    assert relay.from_server(m.encode(offer))[0] is None
    for bad, key in (({"listen": []}, "listen"), ({"listen": ["eth1"], "servers": ["x"]}, "servers[0]"),
                     ({"listen": ["eth1"], "servers": ["10.0.0.1"], "address_of": {"eth9": "1.2.3.4"}},
                      "address_of.eth9"),
                     ({"listen": ["eth1"], "servers": ["10.0.0.1"], "max_hops": 99}, "max_hops")):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[")):
            relay_config({"servers": ["10.0.0.1"], **bad})


def test_relay_keeps_the_first_relays_giaddr():
    from labnode.dhcp.relay import Relay, Side
    from labnode.dhcp.relay import parse_config as relay_config
    side = Side("eth1", A("10.0.2.1"), None, None)  # type: ignore[arg-type]
    relay = Relay(relay_config({"listen": ["eth1"], "servers": ["10.0.0.1"], "agent_info": True}), [side])
    sent = m.decode(relay.from_client(request(m.DISCOVER, giaddr=A("10.0.5.1"), hops=1), side)[0])
    assert sent.giaddr == A("10.0.5.1") and sent.hops == 2 and m.RELAY_AGENT_INFO not in sent.options


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_relay_refuses_garbage_with_dhcp_error_only(data):
    from labnode.dhcp.relay import Relay, Side
    from labnode.dhcp.relay import parse_config as relay_config
    side = Side("eth1", A("10.0.2.1"), None, None)  # type: ignore[arg-type]
    relay = Relay(relay_config({"listen": ["eth1"], "servers": ["10.0.0.1"], "agent_info": True}), [side])
    for decide in (lambda: relay.from_client(data, side), lambda: relay.from_server(data)):
        try:
            decide()
        except m.DhcpError:
            pass
