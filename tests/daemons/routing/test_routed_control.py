"""The control socket and the CLI, against a Router on the simulated network."""
from __future__ import annotations

import json
import socket
import threading

import pytest
from routed_simnet import SimNet
from routed_topo import SQUARE

from labnode.routing import cli, control


@pytest.fixture(scope="module")
def net():
    net = SimNet(SQUARE)
    net.run_until(net.converged, limit=3)
    return net


@pytest.fixture
def server(net, tmp_path):
    path = str(tmp_path / "ctl.sock")
    srv = control.ControlServer(path, lambda cmd: control.answer(net.routers["r1"], cmd, net.now))
    stop = threading.Event()

    def serve():
        srv.sock.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = srv.sock.accept()
            except (TimeoutError, BlockingIOError):
                continue
            with conn:
                conn.settimeout(1)
                conn.sendall(json.dumps(srv._respond(srv._read(conn))).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()
    srv.close()


def test_views_describe_the_router(net):
    r1 = net.routers["r1"]
    routes = {row["prefix"]: row for row in control.routes(r1)}
    assert routes["10.100.4.0/24"]["cost"] == 20
    assert {nh["gateway"] for nh in routes["10.100.4.0/24"]["nexthops"]} == {"10.0.1.2", "10.0.3.2"}
    lsdb = {row["router_id"]: row for row in control.lsdb(r1, net.now)}
    assert lsdb["1.1.1.1"]["self"] and lsdb["4.4.4.4"]["distance"] == 20
    assert {link["neighbor"] for link in lsdb["4.4.4.4"]["links"]} == {"1.1.1.1", "2.2.2.2", "3.3.3.3"}
    assert [n["state"] for n in control.neighbors(r1, net.now)] == ["full"] * 3
    assert control.stats(r1, net.now)["neighbors_full"] == 3


def test_ask_over_the_socket_and_render(server):
    routes = cli.ask(server, "routes")
    text = cli.render("routes", routes)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["prefix", "cost", "next", "hop"]
    assert lines[0].split()[-1] == "ecmp"
    at = next(i for i, line in enumerate(lines) if line.startswith("10.100.4.0/24"))
    assert lines[at].split()[1] == "20" and lines[at].endswith("2 paths")
    assert lines[at + 1].split() == ["10.0.3.2", "l3a"]  # the second path on its own line
    for command, fragment in (("neighbors", "2.2.2.2"), ("lsdb", "distance 20"), ("stats", "rx_hello")):
        assert fragment in cli.render(command, cli.ask(server, command))


def test_bad_requests_get_an_error(server):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(server)
        s.sendall(b'{"command": "reboot"}\n')
        reply = json.loads(s.makefile().readline())
    assert reply["ok"] is False and "neighbors" in reply["error"]
    with pytest.raises(cli.CliError):
        cli.ask(server, "reboot")


def test_cli_main_reports_unreachable_daemon(tmp_path, capsys):
    assert cli.main(["routes", "--socket", str(tmp_path / "none.sock")]) == 1
    assert "cannot reach the routing daemon" in capsys.readouterr().err


def test_empty_views_render():
    assert cli.render("routes", []) == "no routes"
    assert cli.render("neighbors", []) == "no neighbours"
    assert cli.render("lsdb", []) == "empty database"


NAMES = {"1.1.1.1": "r1", "2.2.2.2": "r2", "3.3.3.3": "r3", "4.4.4.4": "r4", "10.0.1.2": "r2", "10.0.3.2": "r3"}


def test_tables_name_the_routers_when_the_names_file_knows_them(server, tmp_path, capsys):
    names = tmp_path / "routers.json"
    names.write_text(json.dumps(NAMES))
    assert cli.main(["neighbors", "--socket", server, "--names", str(names)]) == 0
    assert "r2 (2.2.2.2)" in capsys.readouterr().out
    assert cli.main(["routes", "--socket", server, "--names", str(names)]) == 0
    routes = capsys.readouterr().out
    assert "r2 (10.0.1.2)" in routes and "r3 (10.0.3.2)" in routes
    assert cli.main(["lsdb", "--socket", server, "--names", str(names)]) == 0
    lsdb = capsys.readouterr().out
    assert "r4 (4.4.4.4)  seq" in lsdb and "r2 cost" in lsdb


@pytest.mark.parametrize("content", ["", "[1, 2]", '{"1.1.1.1": 5}', "{" * 50, "not json"])
def test_a_missing_or_bad_names_file_leaves_the_addresses(server, tmp_path, capsys, content):
    names = tmp_path / "routers.json"
    names.write_text(content)
    for path in (names, tmp_path / "missing.json"):
        assert cli.main(["neighbors", "--socket", server, "--names", str(path)]) == 0
        out = capsys.readouterr().out
        assert "2.2.2.2" in out and "(2.2.2.2)" not in out


# -- dual-stack views -------------------------------------------------------------------

@pytest.fixture(scope="module")
def dual():
    net = SimNet(SQUARE.dual())
    net.run_until(net.converged, limit=3)
    return net


def over_the_wire(data):
    return json.loads(json.dumps(data))  # what the CLI gets from the socket


def test_dual_stack_views_show_both_families(dual):
    r1 = dual.routers["r1"]
    rows = control.routes(r1)
    families = [row["family"] for row in rows]
    assert families == sorted(families) and families.count(4) == families.count(6) == 5
    by_prefix = {row["prefix"]: row for row in rows}
    ecmp6 = by_prefix["2001:db8:100:4::/64"]
    assert (ecmp6["family"], ecmp6["cost"]) == (6, 20)
    assert ecmp6["nexthops"] == [{"gateway": "2001:db8:0:1::2", "interface": "l1a"},
                                 {"gateway": "2001:db8:0:3::2", "interface": "l3a"}]
    assert by_prefix["10.100.4.0/24"]["family"] == 4
    neighbours = {n["router_id"]: n for n in control.neighbors(r1, dual.now)}
    assert neighbours["2.2.2.2"]["address6"] == "2001:db8:0:1::2" and neighbours["2.2.2.2"]["address"] == "10.0.1.2"
    lsdb = {row["router_id"]: row for row in control.lsdb(r1, dual.now)}
    assert lsdb["4.4.4.4"]["prefixes6"][0] == {"prefix": "2001:db8:0:2::/64", "metric": 0}
    assert {"prefix": "2001:db8:100:4::/64", "metric": 0} in lsdb["4.4.4.4"]["prefixes6"]
    assert control.stats(r1, dual.now)["routes6"] == 5


def test_dual_stack_tables_render(dual):
    r1 = dual.routers["r1"]
    text = cli.render("routes", over_the_wire(control.routes(r1)), NAMES)
    v4, v6 = text.split("\n\n")
    assert v4.startswith("IPv4 routes\nprefix") and v6.startswith("IPv6 routes\nprefix")
    lines = v6.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("2001:db8:100:4::/64"))
    assert lines[at].split()[1:4] == ["20", "2001:db8:0:1::2", "l1a"] and lines[at].endswith("2 paths")
    assert lines[at + 1].split() == ["2001:db8:0:3::2", "l3a"]
    assert "10.100.4.0/24" in v4 and "2001:db8" not in v4
    neighbours = cli.render("neighbors", over_the_wire(control.neighbors(r1, dual.now)), NAMES)
    assert neighbours.splitlines()[0].split()[:4] == ["interface", "neighbor", "address", "address6"]
    assert "2001:db8:0:1::2" in neighbours
    lsdb = cli.render("lsdb", over_the_wire(control.lsdb(r1, dual.now)))
    assert "  prefixes6: 2001:db8:0:2::/64, 2001:db8:0:4::/64, 2001:db8:0:5::/64, 2001:db8:100:4::/64" in lsdb
    assert "5 routes + 5 IPv6," in cli.render("stats", over_the_wire(control.stats(r1, dual.now)))


def test_ipv4_only_tables_have_no_ipv6_parts(net):
    r1 = net.routers["r1"]
    routes = cli.render("routes", over_the_wire(control.routes(r1)))
    assert routes.startswith("prefix") and "IPv" not in routes
    assert "address6" not in cli.render("neighbors", over_the_wire(control.neighbors(r1, net.now)))
    assert "prefixes6" not in cli.render("lsdb", over_the_wire(control.lsdb(r1, net.now)))
    assert all(row["family"] == 4 for row in control.routes(r1))
    only6 = [{"family": 6, "prefix": "2001:db8::/32", "cost": 1, "nexthops": [
        {"gateway": "2001:db8:0:1::2", "interface": "l1a"}]}]
    assert cli.render("routes", only6).startswith("IPv4 routes\nnone\n\nIPv6 routes\nprefix")
