"""labs/home-nat and labs/dmz-firewall on the real engine: every allowed and
every denied flow, for TCP, UDP and ICMP, checked with the in-node probes."""

import json

import pytest

from orchestrator import lab as api
from orchestrator import operate
from tests.conftest import LABS


def probe(backend, lab, node, *args):
    res = operate.exec_in(lab, node, ["lab-probe", *args], backend=backend)
    assert res.exit_code in (0, 1), res.stdout + res.stderr
    return json.loads(res.stdout)


def deployed(backend, lab, name):
    api.destroy(name, backend=backend)
    plan = api.deploy(LABS / lab, name=name, backend=backend).plan
    return plan


# --- home-nat -----------------------------------------------------------------
HOME = "t-home-nat"


@pytest.fixture(scope="module")
def home(backend):
    plan = deployed(backend, "home-nat", HOME)
    yield plan
    api.destroy(HOME, backend=backend)


def last_access(backend, node):
    log = operate.exec_in(HOME, node, ["tail", "-n", "1", "/var/log/labnet/http.log"], backend=backend).stdout
    return log.split()[1].rsplit(":", 1)[0]  # "<time> <addr>:<port> ..."


def test_home_reaches_the_public_site_as_the_nat_address(home, backend):
    r = probe(backend, HOME, "pc1", "http", "http://203.0.113.10/", "--contains", "public site")
    assert r["ok"], r
    assert last_access(backend, "site") == "198.51.100.2"


def test_public_client_cannot_reach_home_hosts_directly(home, backend):
    target = home.nodes["web"].addresses()[0].split("/")[0]
    assert not probe(backend, HOME, "client", "ping", target, "--count", "1")["ok"]
    assert probe(backend, HOME, "client", "tcp", target, "80", "--timeout", "1")["ports"] != {"80": "open"}


def test_port_forward_reaches_the_home_web_server(home, backend):
    r = probe(backend, HOME, "client", "http", "http://198.51.100.2:8080/", "--contains", "home web server")
    assert r["ok"], r
    assert last_access(backend, "web") == "203.0.113.20"  # DNAT only: the client's own address


def test_port_forward_from_inside_the_home_lan_hairpin(home, backend):
    # as home routers do: pc1 uses the public address and port too; the web
    # server sees the router's inside address, so its replies go back through it
    r = probe(backend, HOME, "pc1", "http", "http://198.51.100.2:8080/", "--contains", "home web server")
    assert r["ok"], r
    assert last_access(backend, "web") == "192.168.1.1"


def test_nat_table_and_ruleset_are_visible_in_the_node(home, backend):
    rules = operate.exec_in(HOME, "gw", ["nft", "list", "ruleset"], backend=backend)
    assert rules.ok and "masquerade" in rules.stdout and "dnat to 192.168.1.12:80" in rules.stdout
    probe(backend, HOME, "pc2", "http", "http://203.0.113.10/")
    ct = operate.exec_in(HOME, "gw", ["conntrack", "-L"], backend=backend)
    assert "dst=198.51.100.2" in ct.stdout + ct.stderr


# --- dmz-firewall --------------------------------------------------------------
DMZ = "t-dmz"


@pytest.fixture(scope="module")
def dmz(backend):
    plan = deployed(backend, "dmz-firewall", DMZ)
    yield plan
    api.destroy(DMZ, backend=backend)


ALLOWED = [
    ("pc1", "http", "http://web/"),                   # inside -> dmz, tcp
    ("pc1", "udp", "web", "7"),                       # inside -> dmz, udp
    ("pc1", "chat", "chatsrv", "--port", "5000"),
    ("pc1", "ping", "ext", "--count", "1"),           # inside -> outside, icmp
    ("pc2", "tcp", "ext", "80"),                      # inside -> outside, tcp
    ("pc2", "udp", "ext", "7"),                       # inside -> outside, udp
    ("ext", "http", "http://web/"),                   # outside -> dmz web 80
    ("ext", "chat", "chatsrv", "--port", "5000"),     # outside -> dmz chat
    ("web", "http", "http://ext/"),                   # dmz -> outside, tcp
    ("chatsrv", "ping", "ext", "--count", "1"),       # dmz -> outside, icmp
    ("web", "udp", "ext", "7"),                       # dmz -> outside, udp
    ("pc1", "ping", "fw", "--count", "1"),            # fw answers the inside
    ("chatsrv", "ping", "web", "--count", "1"),       # web's own firewall: pings from the dmz
]
DENIED = [
    ("ext", "ping", "web", "--count", "1"),           # outside -> dmz icmp (and web's firewall)
    ("ext", "udp", "web", "7", "--timeout", "1"),     # outside -> dmz udp
    ("ext", "tcp", "chatsrv", "80", "--timeout", "1"),
    ("ext", "ping", "pc1", "--count", "1"),           # outside -> inside, every protocol
    ("ext", "tcp", "pc1", "80", "--timeout", "1"),
    ("ext", "udp", "pc1", "7", "--timeout", "1"),
    ("web", "ping", "pc1", "--count", "1"),           # dmz -> inside, every protocol
    ("web", "tcp", "pc1", "22", "--timeout", "1"),
    ("chatsrv", "udp", "pc1", "7", "--timeout", "1"),
    ("pc1", "ping", "web", "--count", "1"),           # web's own firewall: no pings from inside
    ("ext", "ping", "fw", "--count", "1"),            # fw does not answer the outside
]


@pytest.mark.parametrize("flow", ALLOWED, ids=[" ".join(f[:3]) for f in ALLOWED])
def test_allowed_flow(dmz, backend, flow):
    r = probe(backend, DMZ, *flow)
    assert r["ok"], r


@pytest.mark.parametrize("flow", DENIED, ids=[" ".join(f[:3]) for f in DENIED])
def test_denied_flow(dmz, backend, flow):
    r = probe(backend, DMZ, *flow)
    assert not r["ok"], r


def test_dmz_to_inside_is_rejected_not_dropped(dmz, backend):
    tcp = probe(backend, DMZ, "web", "tcp", "pc1", "22", "--timeout", "2")
    assert tcp["ports"] == {"22": "closed"}          # a TCP reset, at once
    icmp = probe(backend, DMZ, "web", "ping", "pc1", "--count", "1")
    assert "prohibited" in icmp["error"]


def test_port_scan_from_outside_finds_exactly_the_allowed_ports(dmz, backend):
    web = probe(backend, DMZ, "ext", "tcp", "web", "1-1024", "--timeout", "1")
    assert web["open"] == [80]
    chat = probe(backend, DMZ, "ext", "tcp", "chatsrv", "1-1024,4990-5010", "--timeout", "1")
    assert chat["open"] == [5000]
    inside = probe(backend, DMZ, "ext", "tcp", "pc1", "1-1024", "--timeout", "1")
    assert inside["open"] == []
