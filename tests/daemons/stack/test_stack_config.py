"""The stack's config file: what it accepts, and the message for what it does not."""
from __future__ import annotations

import json

import pytest

from labnode.stack import config

BASE = {"tap": "tap0", "mac": "02:00:00:00:00:05", "address": "10.0.0.5/24"}


def parse(**changes):
    data = dict(BASE)
    data.update(changes)
    return config.parse({k: v for k, v in data.items() if v is not None})


def test_the_example_config():
    cfg = parse(gateway="10.0.0.1", routes=[{"to": "10.9.0.0/16", "via": "10.0.0.2"}],
                loss={"every": 0, "p": 0.02, "seed": 3}, apps=[{"type": "http", "port": 80, "root": "/srv/www"},
                                                               {"type": "echo", "port": 7},
                                                               {"type": "udp-echo", "port": 7}],
                control_socket="/run/labnet-stack.sock")
    assert cfg.mac == bytes.fromhex("020000000005") and str(cfg.interface) == "10.0.0.5/24"
    assert cfg.routes == [("10.9.0.0/16", "10.0.0.2")] and cfg.loss_p == 0.02 and cfg.loss_direction == "rx"
    assert [(a.type, a.port, a.root) for a in cfg.apps] == [("http", 80, "/srv/www"), ("echo", 7, None),
                                                           ("udp-echo", 7, None)]


def test_defaults():
    cfg = parse()
    assert (cfg.gateway, cfg.routes, cfg.apps, cfg.control_socket, cfg.mtu) == (
        None, [], [], "/run/labnet-stack.sock", 1500)


@pytest.mark.parametrize("changes, message", [
    ({"tap": None}, "config: missing required key 'tap'"),
    ({"colour": "red"}, "config: unknown key 'colour'"),
    ({"tap": "a/b"}, "tap: 'a/b' is not a valid interface name"),
    ({"mac": "01:00:5e:00:00:01"}, "mac: bad MAC address '01:00:5e:00:00:01': a multicast address"),
    ({"address": "10.0.0.5"}, "address: '10.0.0.5' needs a prefix length"),
    ({"address": "10.0.0.300/24"}, "address: '10.0.0.300/24' is not ADDRESS/PREFIX"),
    ({"gateway": "10.1.0.1"}, "gateway: 10.1.0.1 is not on the interface's prefix 10.0.0.0/24"),
    ({"routes": [{"to": "10.9.0.1/16", "via": "10.0.0.2"}]}, "routes[0].to: '10.9.0.1/16' is not a prefix"),
    ({"routes": [{"to": "10.9.0.0/16"}]}, "routes[0]: missing required key 'via'"),
    ({"loss": {"p": 1.5}}, "loss.p: 1.5 is out of range 0 to 1"),
    ({"loss": {"every": 3, "p": 0.1}}, "loss: set either every"),
    ({"loss": {"direction": "up"}}, 'loss.direction: \'up\' is not "rx", "tx" or "both"'),
    ({"loss": {"every": True}}, "loss.every: expected an integer, got bool"),
    ({"apps": [{"type": "ftp", "port": 21}]}, "apps[0].type: 'ftp' is not one of http, echo, udp-echo"),
    ({"apps": [{"type": "http", "port": 80}]}, "apps[0]: an http app needs a root"),
    ({"apps": [{"type": "echo", "port": 7}, {"type": "http", "port": 7, "root": "/"}]},
     "apps[1]: tcp port 7 is used by an earlier app"),
    ({"apps": [{"type": "echo", "port": 70000}]}, "apps[0].port: 70000 is out of range 1 to 65535"),
    ({"control_socket": "relative.sock"}, "control_socket: an absolute path"),
])
def test_errors_name_the_key_and_say_what_is_expected(changes, message):
    with pytest.raises(config.ConfigError) as info:
        parse(**changes)
    assert str(info.value).startswith(message)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({**BASE, "mtu": 100}))
    with pytest.raises(config.ConfigError, match=rf"^{path}: mtu: 100 is out of range 576 to 9000"):
        config.load(str(path))
    path.write_text("[" * 100)
    with pytest.raises(config.ConfigError, match="nested deeper"):
        config.load(str(path))
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(str(tmp_path / "missing.json"))
