"""Zones and authoritative answers (labnode.dns.zone), no sockets: loading and
its errors, NXDOMAIN / NODATA / CNAME / referral / glue / MX additional, the
reverse zones, and the server's answerer on top (REFUSED, FORMERR, NOTIMP)."""

from __future__ import annotations

import copy

import pytest
from dnshelpers import EXAMPLE_ZONE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labnode.dns import message as dm
from labnode.dns import server as ds
from labnode.dns import zone as dz
from labnode.dns.message import Question, Record


@pytest.fixture
def auth():
    return dz.Authority(dz.load_zones([copy.deepcopy(EXAMPLE_ZONE)]))


def ask(auth, name, qtype):
    return auth.answer(Question(name, qtype))


def test_a_record_is_an_authoritative_answer(auth):
    found = ask(auth, "WWW.Example.Lab", dm.A)
    assert found.aa and found.rcode == dm.NOERROR
    assert found.answers == [Record("www.example.lab", dm.A, 300, "10.0.1.10")]
    assert found.authority == [] and found.additional == []


def test_nxdomain_carries_the_soa(auth):
    found = ask(auth, "nope.example.lab", dm.A)
    assert found.rcode == dm.NXDOMAIN and found.aa and found.answers == []
    (soa,) = found.authority
    assert soa.rtype == dm.SOA and soa.name == "example.lab"
    assert soa.data.mname == "ns1.example.lab" and soa.data.rname == "hostmaster.example.lab"
    assert soa.ttl == 300  # min(ttl, minimum), both the zone's ttl here


def test_nodata_and_empty_non_terminal(auth):
    for name, qtype in [("www.example.lab", dm.MX), ("b.deep.example.lab", dm.A), ("deep.example.lab", dm.A)]:
        found = ask(auth, name, qtype)
        assert found.rcode == dm.NOERROR and found.aa and found.answers == [], name
        assert [rr.rtype for rr in found.authority] == [dm.SOA]


def test_cname_is_chased_within_our_zones(auth):
    found = ask(auth, "mail.example.lab", dm.A)
    assert [rr.text() for rr in found.answers] == ["mail.example.lab. 300 IN CNAME www.example.lab.",
                                                    "www.example.lab. 300 IN A 10.0.1.10"]
    assert found.aa
    assert [rr.rtype for rr in ask(auth, "mail.example.lab", dm.CNAME).answers] == [dm.CNAME]
    outside = ask(auth, "out.example.lab", dm.A)  # target not ours: the CNAME alone
    assert [rr.data for rr in outside.answers] == ["elsewhere.other.lab"] and outside.rcode == dm.NOERROR


def test_cname_loop_is_bounded():
    zone = {"origin": "loop.lab", "records": [{"name": "a", "type": "CNAME", "value": "b"},
                                               {"name": "b", "type": "CNAME", "value": "a"}]}
    found = dz.Authority(dz.load_zones([zone])).answer(Question("a.loop.lab", dm.A))
    assert len(found.answers) == dz.MAX_CHAIN + 1


def test_referral_with_glue_and_no_aa(auth):
    for name in ("sub.example.lab", "www.sub.example.lab", "x.y.sub.example.lab"):
        found = ask(auth, name, dm.A)
        assert not found.aa and found.rcode == dm.NOERROR and found.answers == []
        assert [rr.text() for rr in found.authority] == ["sub.example.lab. 300 IN NS ns.sub.example.lab."]
        assert [rr.text() for rr in found.additional] == ["ns.sub.example.lab. 300 IN A 10.0.2.53"]


def test_mx_and_ns_targets_get_addresses(auth):
    mx = ask(auth, "example.lab", dm.MX)
    assert sorted(rr.data for rr in mx.answers) == [(10, "mail.example.lab"), (20, "mx2.example.lab")]
    assert [rr.text() for rr in mx.additional] == ["mx2.example.lab. 300 IN A 10.0.1.25"]  # mail is a CNAME
    ns = ask(auth, "example.lab", dm.NS)
    assert [rr.data for rr in ns.additional] == ["10.0.1.53"]


def test_soa_any_and_other_zones(auth):
    assert ask(auth, "example.lab", dm.SOA).answers[0].rtype == dm.SOA
    assert {rr.rtype for rr in ask(auth, "www.example.lab", dm.ANY).answers} == {dm.A, dm.AAAA}
    assert auth.answer(Question("www.example.com", dm.A)) is None
    assert auth.answer(Question("lab", dm.A)) is None


def test_root_zone_answers_ns_with_glue_and_refers_everything_else():
    root = dz.load_zones([{"origin": ".", "records": [
        {"name": "@", "type": "NS", "value": "a.root.lab."},
        {"name": "a.root.lab.", "type": "A", "value": "10.0.0.1"},
        {"name": "lab", "type": "NS", "value": "ns.lab."},
        {"name": "ns.lab.", "type": "A", "value": "10.0.0.2"}]}])
    authority = dz.Authority(root)
    dot = authority.answer(Question("", dm.NS))
    assert dot.aa and [rr.text() for rr in dot.answers] == [". 300 IN NS a.root.lab."]
    assert [rr.text() for rr in dot.additional] == ["a.root.lab. 300 IN A 10.0.0.1"]
    www = authority.answer(Question("www.example.lab", dm.A))
    assert not www.aa and [rr.data for rr in www.authority] == ["ns.lab"]
    assert [rr.data for rr in www.additional] == ["10.0.0.2"]
    assert authority.answer(Question("nothing.test", dm.A)).rcode == dm.NXDOMAIN


def test_reverse_zones():
    docs = dz.reverse_zones({"www.example.lab": ["10.0.1.10", "fd00::10"], "db.example.lab.": ["10.0.1.11"]},
                            ns="ns1.example.lab")
    origins = [d["origin"] for d in docs]
    assert origins[0] == "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa" and origins[1] == "1.0.10.in-addr.arpa"
    authority = dz.Authority(dz.load_zones(docs))
    ptr = authority.answer(Question("10.1.0.10.in-addr.arpa", dm.PTR))
    assert [rr.data for rr in ptr.answers] == ["www.example.lab"] and ptr.aa
    assert authority.answer(Question("11.1.0.10.in-addr.arpa", dm.PTR)).answers[0].data == "db.example.lab"
    v6 = authority.answer(Question("0.1.0.0." + "0." * 12 + origins[0], dm.PTR))
    assert v6.answers[0].data == "www.example.lab"
    assert authority.answer(Question("1.0.10.in-addr.arpa", dm.NS)).answers[0].data == "ns1.example.lab"


@pytest.mark.parametrize("change, message", [
    (lambda z: z.pop("origin"), r"zones\[0\]: missing 'origin'"),
    (lambda z: z.update(colour="red"), "unknown key 'colour'"),
    (lambda z: z.update(ttl=-1), "zone example.lab: ttl must be an integer"),
    (lambda z: z["records"].append({"name": "x", "type": "SRV", "value": "1"}),
     r"zone example.lab: records\[13\]: type 'SRV' is not one of"),
    (lambda z: z["records"].append({"name": "x", "type": "A", "value": "10.0.0.300"}),
     r"records\[13\] \(x A\): '10.0.0.300' is not an IPv4 address"),
    (lambda z: z["records"].append({"name": "x", "type": "AAAA", "value": "10.0.0.3"}), "not an IPv6 address"),
    (lambda z: z["records"].append({"name": "x", "type": "MX", "value": "mail"}), "PREFERENCE NAME"),
    (lambda z: z["records"].append({"name": "www", "type": "CNAME", "value": "x"}),
     "www.example.lab has a CNAME and other data"),
    (lambda z: z["records"].append({"name": "@", "type": "CNAME", "value": "x.lab."}), "CNAME at the origin"),
    (lambda z: z["records"].append({"name": "www.other.lab.", "type": "A", "value": "1.2.3.4"}),
     "www.other.lab is outside the zone"),
    (lambda z: z["records"].append({"name": "x.sub", "type": "TXT", "value": "t"}),
     "below the delegation sub.example.lab"),
    (lambda z: z["records"].append({"name": "sub", "type": "MX", "value": "1 x"}),
     "sub.example.lab is delegated"),
    (lambda z: z["records"].append({"name": "a" * 64, "type": "A", "value": "1.2.3.4"}), "label longer than 63"),
    (lambda z: z["records"].append({"name": "x", "type": "TXT", "value": 5}), "TXT value is a string"),
    (lambda z: z["records"].append({"name": "x", "type": "A"}), "missing 'value'"),
    (lambda z: z.update(soa={"serial": "one"}), "soa.serial must be an integer"),
    (lambda z: z.update(soa={"owner": "me"}), "soa: unknown key 'owner'"),
])
def test_zone_validation_errors(change, message):
    zone = copy.deepcopy(EXAMPLE_ZONE)
    change(zone)
    with pytest.raises(dz.ZoneError, match=message):
        dz.load_zones([zone])


def test_duplicate_zone():
    with pytest.raises(dz.ZoneError, match="zone Example.Lab is defined twice"):
        dz.load_zones([copy.deepcopy(EXAMPLE_ZONE), {"origin": "Example.Lab."}])


# -- the answerer (server logic without sockets) --------------------------------

def answer(cfg, data: bytes, client="127.0.0.1"):
    replies = []
    ds.Answerer(cfg).handle(data, client, lambda reply, how, limit: replies.append((reply, how, limit)))
    return replies


def test_answerer_refuses_what_is_not_ours():
    cfg = ds.parse_config({"zones": [copy.deepcopy(EXAMPLE_ZONE)]})
    ((reply, how, limit),) = answer(cfg, dm.encode(dm.query("www.example.com", dm.A)))
    assert reply.rcode == dm.REFUSED and not reply.ra and limit == 512
    ((reply, how, limit),) = answer(cfg, dm.encode(dm.query("www.example.lab", dm.A, id=77, edns=1400)))
    assert reply.rcode == dm.NOERROR and reply.aa and reply.id == 77 and limit == 1400 and reply.edns


def test_answerer_recursion_only_for_allowed_clients():
    cfg = ds.parse_config({"recursion": {"root_hints": [{"name": "a.root.lab", "address": "127.0.0.1"}],
                                         "allow": ["10.0.0.0/8"]}})
    ((reply, how, _),) = answer(cfg, dm.encode(dm.query("www.example.lab", dm.A)), client="192.168.1.1")
    assert reply.rcode == dm.REFUSED and not reply.ra and "no recursion" in how
    # no selector: an allowed client gets SERVFAIL (busy) on a cache miss, RA set
    ((reply, how, _),) = answer(cfg, dm.encode(dm.query("www.example.lab", dm.A)), client="::ffff:10.1.2.3")
    assert reply.ra and reply.rcode == dm.SERVFAIL


def test_answerer_formerr_notimp_and_silence():
    cfg = ds.parse_config({"zones": [copy.deepcopy(EXAMPLE_ZONE)]})
    ((reply, how, _),) = answer(cfg, bytes.fromhex("abcd0100ffff000000000000"))
    assert reply.rcode == dm.FORMERR and reply.id == 0xABCD and reply.qr
    assert answer(cfg, b"\x01\x02") == []                                         # no header: no reply
    assert answer(cfg, dm.encode(dm.reply_to(dm.query("www.example.lab", dm.A)))) == []  # a response
    notify = dm.query("example.lab", dm.SOA)
    notify.opcode = 4
    assert answer(cfg, dm.encode(notify))[0][0].rcode == dm.NOTIMP
    two = dm.Message(questions=[Question("a.lab", dm.A), Question("b.lab", dm.A)])
    assert answer(cfg, dm.encode(two))[0][0].rcode == dm.FORMERR


@pytest.mark.parametrize("doc, message", [
    ({"zones": "x"}, "zones must be a list"),
    ({"listen": ["here"]}, "listen: 'here' is not an IP address"),
    ({"port": 70000}, "port must be a number from 0 to 65535"),
    ({"recursion": {}}, "root_hints must be a non-empty list"),
    ({"recursion": {"root_hints": [{"name": "a", "address": "x"}]}}, r"root_hints\[0\]: needs a name and an IP"),
    ({"recursion": {"root_hints": [{"name": "a", "address": "10.0.0.1"}], "allow": ["10.0.0.0/33"]}},
     "recursion.allow"),
    ({"tcp": {"idle_timeout": 0}}, "tcp.idle_timeout must be a number"),
    ({"reverse": {"www": "10.0.0.1"}}, "reverse must map host names to lists"),
    ({"reverse": {"www": ["10.0.0.300"]}}, "reverse: "),
    ({"resolver": {}}, "config: unknown key 'resolver'"),
])
def test_config_errors(doc, message):
    with pytest.raises(ds.ConfigError, match=message):
        ds.parse_config(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=False) | st.sampled_from(
        ["@", "www", "x.lab.", "10.0.0.1", "fd00::1", "10 mail", "A", "MX", "CNAME", "NS", "TXT", "."]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["zones", "origin", "records", "name", "type", "value", "ttl", "soa", "listen", "port", "recursion",
         "root_hints", "address", "allow", "reverse", "tcp", "serial", "mname"]), inner, max_size=5),
    max_leaves=30)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_config_is_a_config_or_a_config_error(doc):
    try:
        ds.parse_config(doc)
    except ds.ConfigError:
        pass


FULL_CONFIG = {"listen": ["127.0.0.1"], "port": 53, "zones": [EXAMPLE_ZONE],
               "reverse": {"www.example.lab": ["10.0.1.10"]},
               "recursion": {"root_hints": [{"name": "a.root.lab", "address": "10.0.0.1"}], "allow": ["10.0.0.0/8"],
                             "port": 53, "timeout": 1.0, "retries": 1, "cache_size": 100},
               "tcp": {"max_connections": 8, "idle_timeout": 2}, "log_queries": True}


def _paths(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*path, i))


ALL_PATHS = list(_paths(FULL_CONFIG))[1:]


@settings(max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), json_values), min_size=1, max_size=3))
def test_a_valid_config_with_any_part_replaced_is_a_config_or_a_config_error(changes):
    doc = copy.deepcopy(FULL_CONFIG)
    for path, value in changes:
        node = doc
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this part
    try:
        ds.parse_config(doc)
    except ds.ConfigError:
        pass
