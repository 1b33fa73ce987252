"""The recursive resolver (labnode.dns.resolver).

First over a fake network inside the test: each "server" is our server's
Answerer with its own config, reached through resolve_sync's transport, so
every upstream query is counted and the clock is ours.  Then over loopback
with real server processes: root, TLD and authoritative servers on
127.0.0.x (same port), the resolver walking the chain, and a black-hole
upstream that must not hold up other clients."""

from __future__ import annotations

import copy
import socket
import time

import pytest
from dnshelpers import EXAMPLE_ZONE, ask, free_port, tree_configs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labnode.dns import message as dm
from labnode.dns import resolver as dr
from labnode.dns import server as ds
from labnode.dns.message import Question

ADDRS = {"root": "10.0.0.1", "tld": "10.0.0.2", "auth": "10.0.1.53", "resolver": "10.0.0.53"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeNet:
    """address -> one of our Answerers; records every query; dead addresses never answer."""

    def __init__(self, docs: dict[str, dict]) -> None:
        self.servers = {addr: ds.Answerer(ds.parse_config(doc)) for addr, doc in docs.items()}
        self.sent: list[tuple[str, str, str]] = []
        self.dead: set[str] = set()

    def __call__(self, send: dr.Send) -> dm.Message | None:
        q = send.message.question
        self.sent.append((send.address, q.name, dm.type_name(q.qtype)))
        server = self.servers.get(send.address)
        if server is None or send.address in self.dead:
            return None  # a timeout
        replies: list[bytes] = []
        server.handle(dm.encode(send.message), "10.0.0.53",
                      lambda reply, how, limit: replies.append(dm.encode(reply, limit)))
        return dm.decode(replies[0]) if replies else None


def tree(extra_tld: list[dict] | None = None, extra_servers: dict | None = None, www_ttl: int = 60) -> FakeNet:
    configs = tree_configs(ADDRS, 53)
    zone = configs["auth"]["zones"][0]
    zone["ttl"] = 3600
    zone["soa"] = {"minimum": 30}
    for record in zone["records"]:
        if record["name"] == "www":
            record["ttl"] = www_ttl
    configs["tld"]["zones"][0]["records"] += extra_tld or []
    docs = {ADDRS[role]: configs[role] for role in ("root", "tld", "auth")}
    docs.update(extra_servers or {})
    return FakeNet(docs)


@pytest.fixture
def clock():
    return Clock()


def resolver(clock, **kw) -> dr.Resolver:
    return dr.Resolver([dr.Hint("a.root.lab", ADDRS["root"])], clock=clock, **kw)


def resolve(res, net, name, qtype=dm.A) -> dr.Result:
    return dr.resolve_sync(res, Question(name, qtype), net)


def test_walks_root_tld_authoritative(clock):
    net, res = tree(), resolver(clock)
    result = resolve(res, net, "www.example.lab")
    assert result.rcode == dm.NOERROR and [rr.data for rr in result.answers] == ["10.0.1.10"]
    assert net.sent == [(ADDRS["root"], "www.example.lab", "A"), (ADDRS["tld"], "www.example.lab", "A"),
                        (ADDRS["auth"], "www.example.lab", "A")]
    assert result.queries == 3


def test_second_query_is_a_cache_hit(clock):
    net, res = tree(), resolver(clock)
    resolve(res, net, "www.example.lab")
    net.sent.clear()
    hit = res.from_cache(Question("www.example.lab", dm.A))
    assert hit is not None and hit.queries == 0 and hit.answers[0].data == "10.0.1.10"
    assert resolve(res, net, "WWW.EXAMPLE.LAB").answers[0].data == "10.0.1.10"
    assert net.sent == []
    # another name of the same zone goes straight to its server
    resolve(res, net, "www.example.lab", dm.AAAA)
    assert net.sent == [(ADDRS["auth"], "www.example.lab", "AAAA")]


def test_ttl_counts_down_and_expires(clock):
    net, res = tree(www_ttl=60), resolver(clock)
    resolve(res, net, "www.example.lab")
    clock.now += 45
    assert res.from_cache(Question("www.example.lab", dm.A)).answers[0].ttl == 15
    clock.now += 16
    assert res.from_cache(Question("www.example.lab", dm.A)) is None
    net.sent.clear()
    assert resolve(res, net, "www.example.lab").answers[0].data == "10.0.1.10"
    assert net.sent == [(ADDRS["auth"], "www.example.lab", "A")]  # the zone's NS (3600 s) still cached


def test_negative_answers_are_cached_for_the_soa_minimum(clock):
    net, res = tree(), resolver(clock)
    nx = resolve(res, net, "nope.example.lab")
    assert nx.rcode == dm.NXDOMAIN and nx.authority[0].rtype == dm.SOA
    nodata = resolve(res, net, "www.example.lab", dm.MX)
    assert nodata.rcode == dm.NOERROR and nodata.answers == [] and nodata.authority[0].rtype == dm.SOA
    net.sent.clear()
    assert resolve(res, net, "nope.example.lab", dm.TXT).rcode == dm.NXDOMAIN  # NXDOMAIN holds for every type
    assert resolve(res, net, "www.example.lab", dm.MX).answers == []
    assert net.sent == []
    clock.now += 31  # the negative TTL: min(SOA ttl 3600, minimum 30)
    assert resolve(res, net, "nope.example.lab").rcode == dm.NXDOMAIN
    assert net.sent == [(ADDRS["auth"], "nope.example.lab", "A")]


def test_cname_chains(clock):
    net, res = tree(), resolver(clock)
    inside = resolve(res, net, "mail.example.lab")
    assert [rr.rtype for rr in inside.answers] == [dm.CNAME, dm.A]
    # out.example.lab -> elsewhere.other.lab: the resolver goes on from the top; lab says NXDOMAIN
    out = resolve(res, net, "out.example.lab")
    assert out.rcode == dm.NXDOMAIN and [rr.data for rr in out.answers] == ["elsewhere.other.lab"]
    assert (ADDRS["tld"], "elsewhere.other.lab", "A") in net.sent


def test_cname_loop_across_servers_ends_in_servfail(clock):
    extra = [{"name": "loop", "type": "NS", "value": "ns.loop"}, {"name": "ns.loop", "type": "A", "value": "10.0.3.1"}]
    loop = {"listen": ["10.0.3.1"], "zones": [
        {"origin": "loop.lab", "records": [{"name": "a", "type": "CNAME", "value": "b.example.lab."}]}]}
    net = tree(extra, {"10.0.3.1": loop})
    net.servers[ADDRS["auth"]].authority.zones["example.lab"].add(
        dm.Record("b.example.lab", dm.CNAME, 60, "a.loop.lab"))
    result = resolve(resolver(clock), net, "a.loop.lab")
    assert result.rcode == dm.SERVFAIL and "CNAME chain" in result.reason


def test_referral_loop_ends_in_servfail(clock):
    # lab delegates up.lab to 10.0.4.1, which refers back up to lab: lame, SERVFAIL, bounded
    extra = [{"name": "up", "type": "NS", "value": "ns.up"}, {"name": "ns.up", "type": "A", "value": "10.0.4.1"}]
    lame = {"listen": ["10.0.4.1"], "zones": [{"origin": ".", "records": [
        {"name": "lab", "type": "NS", "value": "ns.lab."}, {"name": "ns.lab.", "type": "A", "value": ADDRS["tld"]}]}]}
    net = tree(extra, {"10.0.4.1": lame})
    result = resolve(resolver(clock), net, "www.up.lab")
    assert result.rcode == dm.SERVFAIL and "no server of zone up.lab" in result.reason
    assert result.queries <= dr.MAX_QUERIES and len(net.sent) == result.queries


def test_glueless_delegation_is_resolved(clock):
    extra = [{"name": "glueless", "type": "NS", "value": "ns2.example.lab."}]
    target = {"listen": ["10.0.1.54"], "zones": [
        {"origin": "glueless.lab", "records": [{"name": "host", "type": "A", "value": "10.0.5.5"}]}]}
    net = tree(extra, {"10.0.1.54": target})
    net.servers[ADDRS["auth"]].authority.zones["example.lab"].add(dm.Record("ns2.example.lab", dm.A, 60, "10.0.1.54"))
    result = resolve(resolver(clock), net, "host.glueless.lab")
    assert result.rcode == dm.NOERROR and result.answers[0].data == "10.0.5.5"
    assert (ADDRS["auth"], "ns2.example.lab", "A") in net.sent and net.sent[-1][0] == "10.0.1.54"


def test_too_deep_glueless_chain_ends_in_servfail(clock):
    # dN.lab is served by ns.d(N+1).lab, never with glue: each needs one more nested resolution
    extra = [{"name": f"d{i}", "type": "NS", "value": f"ns.d{i + 1}.lab."} for i in range(12)]
    net = tree(extra)
    result = resolve(resolver(clock), net, "www.d0.lab")
    assert result.rcode == dm.SERVFAIL and ("deeper than" in result.reason or "budget" in result.reason)
    assert len(net.sent) <= dr.MAX_QUERIES


def test_query_budget(clock):
    net = tree()
    result = resolve(resolver(clock, max_queries=2), net, "www.example.lab")
    assert result.rcode == dm.SERVFAIL and "budget" in result.reason and len(net.sent) == 2


def test_dead_server_is_retried_then_another_is_used(clock):
    net = tree()
    net.dead.add(ADDRS["root"])
    res = dr.Resolver([dr.Hint("a.root.lab", ADDRS["root"]), dr.Hint("b.root.lab", "10.0.0.9")],
                      clock=clock, retries=1)
    net.servers["10.0.0.9"] = net.servers[ADDRS["root"]]
    assert resolve(res, net, "www.example.lab").rcode == dm.NOERROR
    assert [s[0] for s in net.sent[:2]] == [ADDRS["root"], "10.0.0.9"]
    net.dead.update({"10.0.0.9", ADDRS["tld"], ADDRS["auth"]})
    net.sent.clear()
    failed = resolve(resolver(Clock()), net, "www.example.lab")
    assert failed.rcode == dm.SERVFAIL and len(net.sent) == 2  # one server, retries=1: two tries


def test_out_of_bailiwick_records_are_not_believed(clock):
    # the example.lab server also claims www.victim.lab: the resolver must not cache it
    net = tree()
    auth = net.servers[ADDRS["auth"]].authority
    auth.zones["example.lab"].add(dm.Record("poison.example.lab", dm.CNAME, 60, "www.victim.lab"))
    victim = dm.Record("www.victim.lab", dm.A, 60, "6.6.6.6")
    zone = ds.parse_config({"zones": [{"origin": "victim.lab"}]}).zones[0]
    zone.add(victim)
    auth.zones["victim.lab"] = zone
    res = resolver(clock)
    result = resolve(res, net, "poison.example.lab")
    assert res.cache.get("www.victim.lab", dm.A) is None
    assert result.rcode == dm.NXDOMAIN  # lab, the real parent, knows no victim.lab


def test_cache_is_bounded_lru(clock):
    cache = dr.Cache(size=3, clock=clock)
    for i in range(3):
        cache.put([dm.Record(f"h{i}.lab", dm.A, 60, "10.0.0.1")])
    assert cache.get("h0.lab", dm.A) is not None  # h0 used: h1 is now the oldest
    cache.put([dm.Record("h3.lab", dm.A, 60, "10.0.0.1")])
    assert len(cache) == 3 and cache.get("h1.lab", dm.A) is None and cache.get("h0.lab", dm.A) is not None
    cache.put([dm.Record("zero.lab", dm.A, 0, "10.0.0.1")])  # TTL 0: not cached
    assert cache.get("zero.lab", dm.A) is None


# -- real processes on loopback ------------------------------------------------

LOOPBACK = {"root": "127.0.0.11", "tld": "127.0.0.12", "auth": "127.0.0.13", "resolver": "127.0.0.20"}


@pytest.fixture
def loopback_tree(dns_server):
    port = free_port("127.0.0.11")
    configs = tree_configs(LOOPBACK, port)
    return {role: dns_server(configs[role]) for role in ("root", "tld", "auth", "resolver")}


def test_resolver_process_walks_the_chain_and_caches(loopback_tree):
    servers = loopback_tree
    res = servers["resolver"]
    reply = ask(res.address, res.port, dm.query("www.example.lab", dm.A, id=5))
    assert reply.ra and reply.rcode == dm.NOERROR and reply.answers[0].data == "10.0.1.10"
    for role in ("root", "tld"):
        servers[role].wait_for(r"A www\.example\.lab -> NOERROR 0 answers \(referral\)")
    servers["auth"].wait_for(r"A www\.example\.lab -> NOERROR 1 answer \(authoritative\)")
    res.wait_for(r"127\.0\.0\.1 A www\.example\.lab -> NOERROR 1 answer \(recursion, 3 queries\)")
    upstream_lines = {role: len(servers[role].lines) for role in ("root", "tld", "auth")}
    again = ask(res.address, res.port, dm.query("www.example.lab", dm.A, id=6))
    assert again.answers[0].data == "10.0.1.10" and again.id == 6
    res.wait_for(r"A www\.example\.lab -> NOERROR 1 answer \(cache\)")
    nx = ask(res.address, res.port, dm.query("nope.example.lab", dm.A))
    assert nx.rcode == dm.NXDOMAIN and nx.authority[0].rtype == dm.SOA
    res.wait_for(r"A nope\.example\.lab -> NXDOMAIN 0 answers \(recursion, 1 query\)")
    assert {role: len(servers[role].lines) for role in ("root", "tld")} == \
        {role: upstream_lines[role] for role in ("root", "tld")}  # the cache spared root and TLD


def test_slow_upstream_does_not_block_other_clients(dns_server):
    port = free_port("127.0.0.21")
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a root that never answers
    hole.bind(("127.0.0.22", port))
    try:
        zone = copy.deepcopy(EXAMPLE_ZONE)
        res = dns_server({"listen": ["127.0.0.21"], "port": port, "zones": [zone],
                          "recursion": {"root_hints": [{"name": "a.root.lab", "address": "127.0.0.22"}],
                                        "port": port, "timeout": 1.0, "retries": 1}})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(10)
            client.sendto(dm.encode(dm.query("www.elsewhere.lab", dm.A, id=1)), (res.address, port))
            time.sleep(0.1)  # (ordering only: the slow question is in flight first)
            client.sendto(dm.encode(dm.query("www.example.lab", dm.A, id=2)), (res.address, port))
            first = dm.decode(client.recv(65535))
            second = dm.decode(client.recv(65535))
        assert (first.id, first.rcode) == (2, dm.NOERROR)
        assert (second.id, second.rcode) == (1, dm.SERVFAIL)
        res.wait_for(r"A www\.elsewhere\.lab -> SERVFAIL 0 answers \(recursion, 2 queries: no server")
    finally:
        hole.close()


# -- hostile upstreams ---------------------------------------------------------

near_names = st.sampled_from(["", "lab", "example.lab", "www.example.lab", "ns.lab", "a.root.lab", "x.lab",
                              "other.test", "sub.www.example.lab"])
hostile_records = st.builds(
    lambda name, td, ttl: dm.Record(name, td[0], ttl, td[1]), near_names,
    st.one_of(st.tuples(st.just(dm.A), st.sampled_from(["10.0.0.1", "10.0.0.2", "10.9.9.9"])),
              st.tuples(st.sampled_from([dm.NS, dm.CNAME]), near_names),
              st.tuples(st.just(dm.SOA), st.builds(dm.SoaData, near_names, near_names, *[st.integers(0, 99)] * 5))),
    st.integers(0, 100))


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_upstream_replies_end_in_a_result(data):
    sent = []

    def transport(send: dr.Send) -> dm.Message | None:
        sent.append(send)
        if data.draw(st.booleans()):
            return None
        reply = dm.reply_to(send.message, data.draw(st.sampled_from([dm.NOERROR, dm.NXDOMAIN, dm.SERVFAIL])))
        reply.aa = data.draw(st.booleans())
        reply.answers = data.draw(st.lists(hostile_records, max_size=3))
        reply.authority = data.draw(st.lists(hostile_records, max_size=3))
        reply.additional = data.draw(st.lists(hostile_records, max_size=3))
        return dm.decode(dm.encode(reply))

    res = dr.Resolver([dr.Hint("a.root.lab", "10.0.0.1")], clock=Clock())
    for name in ("www.example.lab", "x.lab"):
        result = dr.resolve_sync(res, Question(name, dm.A), transport)
        assert result.rcode in (dm.NOERROR, dm.NXDOMAIN, dm.SERVFAIL)
    assert len(sent) <= 2 * dr.MAX_QUERIES
