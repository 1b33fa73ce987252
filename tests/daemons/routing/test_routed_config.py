"""The configuration file: the documented shape parses, mistakes are all reported."""
from __future__ import annotations

import ipaddress
import json

import pytest

from labnode.routing import config
from labnode.routing import packet as pk
from labnode.routing.__main__ import main
from labnode.routing.addr import ip_to_int
from labnode.routing.lsa import LSA, Link, Prefix
from labnode.routing.packet import Codec

GOOD = {
    "router_id": "1.1.1.1",
    "interfaces": [{"name": "eth1", "cost": 10, "address": "10.0.12.1/30"},
                   {"name": "eth2", "cost": 5, "address": "10.0.13.1/31"}],
    "prefixes": ["10.0.1.0/24", {"prefix": "10.9.0.0/16", "metric": 5}],
    "hello_interval": 0.2,
    "dead_interval": 0.8,
    "key": None,
    "control_socket": "/run/labnet-routed.sock",
    "route_protocol": 99,
}


def test_documented_example_parses():
    cfg = config.parse(GOOD)
    assert cfg.router_id == ip_to_int("1.1.1.1")
    eth1 = cfg.interface("eth1")
    assert (eth1.cost, eth1.address, eth1.length) == (10, ip_to_int("10.0.12.1"), 30)
    assert eth1.network == ip_to_int("10.0.12.0")
    assert cfg.prefixes == (Prefix(ip_to_int("10.0.1.0"), 24, 0), Prefix(ip_to_int("10.9.0.0"), 16, 5))
    assert cfg.route_metric == 20 and cfg.multicast_group == "224.0.0.177" and cfg.port == 5299
    assert cfg.interface("eth9") is None


def test_minimal_file_uses_defaults():
    cfg = config.parse({"router_id": "9.9.9.9", "interfaces": []})
    assert cfg.hello_interval == 0.2 and cfg.dead_interval == 0.8 and cfg.key is None


def test_every_error_is_reported_at_once():
    raw = {
        "router_id": "one", "interfaces": [{"name": "eth1", "cost": 0, "address": "10.0.0.1"},
                                           {"name": "eth1", "address": "nope"}, "eth3"],
        "prefixes": ["10.0.1.1/24", {"prefix": "10.2.0.0/16", "metric": -1}],
        "hello_interval": 0, "colour": "blue", "multicast_group": "239.1.1.1", "key": "",
    }
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw)
    text = "\n".join(info.value.errors)
    for fragment in ("router_id", "interfaces[0].cost", "interfaces[1].name: eth1 listed twice",
                     "interfaces[1].address", "interfaces[2]", "prefixes[0]", "prefixes[1].metric",
                     "hello_interval", "colour: unknown setting", "multicast_group", "key"):
        assert fragment in text, fragment


def test_relations_between_timers_are_checked():
    with pytest.raises(config.ConfigError, match="dead_interval"):
        config.parse({**GOOD, "hello_interval": 1.0, "dead_interval": 1.0})
    with pytest.raises(config.ConfigError, match="lsa_refresh_interval"):
        config.parse({**GOOD, "lsa_refresh_interval": 100, "lsa_max_age": 90})


def test_required_keys_and_non_object():
    with pytest.raises(config.ConfigError, match="router_id: required"):
        config.parse({"interfaces": []})
    with pytest.raises(config.ConfigError):
        config.parse([1, 2])


def test_load_reports_unreadable_and_bad_json(tmp_path):
    with pytest.raises(config.ConfigError, match="No such file"):
        config.load(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(config.ConfigError, match="not JSON"):
        config.load(str(bad))


def test_check_flag(tmp_path, capsys):
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(GOOD))
    assert main(["--config", str(path), "--check"]) == 0
    assert "OK (2 interfaces, 2 prefixes)" in capsys.readouterr().out
    path.write_text(json.dumps({**GOOD, "router_id": "0.0.0.0"}))
    assert main(["--config", str(path), "--check"]) == 2
    assert "0.0.0.0 is not allowed" in capsys.readouterr().err


# -- IPv6 -----------------------------------------------------------------------------

DUAL = {**GOOD,
        "interfaces": [{"name": "eth1", "cost": 10, "address": "10.0.12.1/30", "address6": "2001:db8:1:4::1/64"},
                       {"name": "eth2", "cost": 5, "address": "10.0.13.1/31", "address6": "2001:db8:ffff::/127"},
                       {"name": "eth3", "address": "10.0.14.1/30"}],
        "prefixes6": ["2001:db8:1:1::/64", {"prefix": "2001:db8:9::/48", "metric": 5}, "fd12:3456:789a::/48"]}


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def test_dual_stack_example_parses():
    cfg = config.parse(DUAL)
    eth1, eth2, eth3 = cfg.interfaces
    assert (eth1.address6, eth1.length6, eth1.network6) == (v6("2001:db8:1:4::1"), 64, v6("2001:db8:1:4::"))
    assert (eth2.address6, eth2.length6) == (v6("2001:db8:ffff::"), 127)  # RFC 6164: both ends of a /127
    assert (eth3.address6, eth3.network6) == (None, None)
    assert cfg.prefixes6 == (Prefix(v6("2001:db8:1:1::"), 64, 0), Prefix(v6("2001:db8:9::"), 48, 5),
                             Prefix(v6("fd12:3456:789a::"), 48, 0))
    assert cfg.dual_stack


def test_an_ipv4_only_file_is_what_it_was():
    cfg = config.parse(GOOD)
    assert cfg.prefixes6 == () and all(i.address6 is None for i in cfg.interfaces) and not cfg.dual_stack
    assert config.parse({**GOOD, "prefixes6": []}) == cfg


def test_every_ipv6_error_is_reported_at_once():
    raw = {**GOOD,
           "interfaces": [{"name": "e1", "address": "10.0.0.1/30", "address6": "fe80::1/64"},
                          {"name": "e2", "address": "10.0.0.5/30", "address6": "2001:db8::1"},
                          {"name": "e3", "address": "10.0.0.9/30", "address6": "2001:db8::9/128"},
                          {"name": "e4", "address": "10.0.0.13/30", "address6": "ff02::1/64"},
                          {"name": "e5", "address": "10.0.0.17/30", "address6": "10.0.0.17/30"},
                          {"name": "e6", "address": "10.0.0.21/30", "address6": "2001:db8:6::1/64"},
                          {"name": "e7", "address": "10.0.0.25/30", "address6": "2001:db8:6::1/64"},
                          {"name": "e8", "address": "10.0.0.29/30", "address6": 5},
                          {"name": "e9", "address": "10.0.0.33/30", "address6": "::ffff:10.0.0.1/96"}],
           "prefixes6": ["2001:db8:1:1::1/64", "fe80::/64", {"prefix": "ff00::/8"}, "::1/128",
                         {"prefix": "2001:db8::/32", "metric": -1, "colour": "red"}, "2001:db8::/129", 5,
                         "10.0.0.0/8", {"metric": 3}]}
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw)
    errors = info.value.errors
    expected = [
        "interfaces[0].address6: fe80::1 is link-local (fe80::/10) (the kernel makes the link-local one;"
        " give the global address)",
        "interfaces[1].address6: an IPv6 interface address with its prefix length, like 2001:db8:1:4::1/64:"
        " '2001:db8::1'",
        "interfaces[2].address6: /128 leaves no room for a neighbour",
        "interfaces[3].address6: ff02::1 is multicast (ff00::/8)",
        "interfaces[4].address6: an IPv6 interface address with its prefix length, like 2001:db8:1:4::1/64:"
        " '10.0.0.17/30'",
        "interfaces[6].address6: 2001:db8:6::1 listed twice",
        "interfaces[7].address6: an IPv6 interface address with its prefix length, like 2001:db8:1:4::1/64: 5",
        "interfaces[8].address6: ::ffff:a00:1 is IPv4-mapped (::ffff:0:0/96)",
        "prefixes6[0]: 2001:db8:1:1::1/64 has host bits set (the prefix is 2001:db8:1:1::/64)",
        "prefixes6[1]: fe80::/64 is link-local (fe80::/10), not a routed prefix",
        "prefixes6[2]: ff00::/8 is multicast (ff00::/8), not a routed prefix",
        "prefixes6[3]: ::1/128 is the loopback address, not a routed prefix",
        "prefixes6[4].colour: unknown setting",
        "prefixes6[4].metric: an integer in 0..65535",
        "prefixes6[5]: not an IPv6 prefix like 2001:db8:1:1::/64: '2001:db8::/129'",
        "prefixes6[6]: not an IPv6 prefix like 2001:db8:1:1::/64: 5",
        "prefixes6[7]: not an IPv6 prefix like 2001:db8:1:1::/64: '10.0.0.0/8'",
        "prefixes6[8]: not an IPv6 prefix like 2001:db8:1:1::/64: None",
    ]
    assert errors == expected


def test_ipv6_counts_are_bounded_and_shapes_checked():
    many = [f"2001:db8:{i:x}::/48" for i in range(config.MAX_PREFIXES6 + 1)]
    with pytest.raises(config.ConfigError, match=r"prefixes6: at most 256 prefixes, not 257"):
        config.parse({**GOOD, "prefixes6": many})
    assert len(config.parse({**GOOD, "prefixes6": many[:-1]}).prefixes6) == config.MAX_PREFIXES6
    with pytest.raises(config.ConfigError, match="prefixes6: must be a list"):
        config.parse({**GOOD, "prefixes6": "2001:db8::/32"})
    # the most IPv6 prefixes leave room in one packet for 128 adjacencies and 256 IPv4 prefixes
    lsa = LSA(1, 1, 0, tuple(Link(i, 1) for i in range(128)), tuple(Prefix(i << 8, 24) for i in range(256)),
              tuple(Prefix(v6("2001:db8::") | i << 64, 64) for i in range(config.MAX_PREFIXES6)))
    assert pk.lsa_size(lsa) + Codec(1, "k").overhead <= pk.MAX_PACKET


def test_check_flag_counts_ipv6_prefixes(tmp_path, capsys):
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(DUAL))
    assert main(["--config", str(path), "--check"]) == 0
    assert "OK (3 interfaces, 2 prefixes, 3 IPv6 prefixes)" in capsys.readouterr().out
