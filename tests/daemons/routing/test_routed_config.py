"""The configuration file: the documented shape parses, mistakes are all reported."""
from __future__ import annotations

import json

import pytest

from labnode.routing import config
from labnode.routing.__main__ import main
from labnode.routing.addr import ip_to_int
from labnode.routing.lsa import Prefix

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
