"""DHCP in the plan: pools, relays, reserved and leased addresses, the dhcp
expectation, and checks aimed at hosts whose address is read when they run
(on the in-memory backend)."""

import pytest
import yaml

from orchestrator import contract
from orchestrator.compile import compile_text
from orchestrator.compile.checks import plan_checks
from orchestrator.reconcile import _stale
from orchestrator.render.files import render_plan
from orchestrator.verify.ping import all_pairs_ping
from orchestrator.verify.runner import run_checks
from tests.unit.fakebackend import FakeBackend

# dhcp1 and pc1 on lan1; pc2 (reserved) and pc3 on lan2, behind r1's relay; a resolver on lan1
LAB = """
name: dh
nodes:
  r1: {kind: router, interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}, dhcp_relay: dhcp1}
  dhcp1:
    kind: host
    interfaces: {eth0: 10.0.1.2/24}
    services:
      - type: dhcp
        pools:
          - {range: [10.0.1.100, 10.0.1.199]}
          - {range: [10.0.2.100, 10.0.2.199], lease: 120, domain: lab, reservations: {pc2: 10.0.2.50}}
      - {type: dns, recursion: true, root_hints: [10.0.1.2]}
  pc1: {kind: host, interfaces: {eth0: dhcp}}
  pc2: {kind: host, interfaces: {eth0: dhcp}}
  pc3: {kind: host, interfaces: {eth0: dhcp}}
lans:
  lan1: {members: [r1:eth0, dhcp1, pc1]}
  lan2: {members: [r1:eth1, pc2, pc3]}
"""


@pytest.fixture(scope="module")
def plan():
    return compile_text(LAB).result()


def test_the_server_gets_a_pool_per_lan_with_router_dns_and_reservations(plan):
    doc = plan.nodes["dhcp1"].dhcp
    assert doc["interfaces"] == ["eth0"]
    lan1, lan2 = doc["pools"]
    assert lan1 == {"subnet": "10.0.1.0/24", "range": ["10.0.1.100", "10.0.1.199"], "lease": 3600,
                    "router": "10.0.1.1", "dns": ["10.0.1.2"], "reservations": []}
    pc2 = plan.nodes["pc2"].interface("eth0")
    assert lan2["router"] == "10.0.2.1" and lan2["lease"] == 120 and lan2["domain"] == "lab"
    assert lan2["reservations"] == [{"mac": pc2.mac, "address": "10.0.2.50", "hostname": "pc2"}]


def test_hosts_that_ask_carry_no_address_but_a_reservation_and_run_the_client(plan):
    assert [(i.name, i.dhcp, i.address) for i in plan.nodes["pc1"].interfaces] == [("eth0", True, None)]
    assert plan.nodes["pc2"].addresses() == ["10.0.2.50/24"]
    assert plan.nodes["pc1"].routes == []     # the gateway comes with the lease
    for host in ("pc1", "pc2", "pc3"):
        assert [(s.name, s.type, s.command) for s in plan.nodes[host].services] == [
            ("dhcp-eth0", "command", ["lab-dhclient", "eth0"])]
    setup = render_plan(plan)["pc2"][contract.SETUP_SCRIPT]
    assert "addr replace" not in setup and "reserved 10.0.2.50/24" in setup


def test_the_router_relays_from_the_lan_the_server_is_not_on(plan):
    r1 = plan.nodes["r1"]
    assert r1.dhcp_relay == {"listen": ["eth1"], "servers": ["10.0.1.2"]}
    assert [(s.name, s.type, s.args) for s in r1.services] == [
        ("dhcp-relay", "dhcp-relay", {"config": contract.DHCP_RELAY_CONFIG})]
    assert contract.DHCP_RELAY_CONFIG in render_plan(plan)["r1"]


def test_a_reserved_host_is_a_target_like_any_and_an_unreserved_one_is_read_when_probed(plan):
    checks = plan_checks(yaml.safe_load("- reach: {from: pc3, to: [pc2, pc1, dhcp1]}"), plan)
    assert [(c.dst, c.address, c.lease) for c in checks] == [
        ("pc2", "10.0.2.50", None), ("pc1", "", "pc1.eth0"), ("dhcp1", "10.0.1.2", None)]
    pairs = plan_checks(yaml.safe_load("- all_pairs: hosts"), plan)
    assert {c.src for c in pairs} == {"dhcp1", "pc1", "pc2", "pc3"}


def test_the_dhcp_expectation_knows_the_pool_and_gateway(plan):
    one, two = plan_checks(yaml.safe_load("[{dhcp: {host: pc3}}, {dhcp: {host: pc2}}]"), plan)
    assert (one.kind, one.src, one.dst, one.pool, one.gateway, one.address) == (
        "dhcp", "pc3", "pc3.eth0", ["10.0.2.100", "10.0.2.199"], "10.0.2.1", "")
    assert one.expected == "an address in 10.0.2.100 - 10.0.2.199, gateway 10.0.2.1"
    assert two.address == "10.0.2.50" and two.expected == "an address 10.0.2.50, gateway 10.0.2.1"


def lease(address: str, gateway: str = "10.0.2.1") -> dict:
    return {"probe": "dhcp", "ok": True, "address": address, "seconds_left": 100, "gateway": gateway,
            "nameservers": ["10.0.1.2"]}


@pytest.fixture
def fake(plan):
    fake = FakeBackend()
    fake.load(plan)
    return fake


def test_a_check_at_a_leased_host_probes_the_address_it_holds(fake, plan):
    seen = []

    def probe(node, argv):
        seen.append((node, argv[:2]))
        if argv[0] == "dhcp":
            if node == "pc1":
                return lease("10.0.1.123/24", "10.0.1.1")
            return 1, {"probe": "dhcp", "ok": False, "error": "eth0 holds no address from DHCP (waited 10 s)"}
        return {"probe": "ping", "ok": True, "sent": 2, "received": 2, "loss": 0.0, "avg": 0.1}

    fake.probe = probe
    results = run_checks(fake, plan, plan_checks(yaml.safe_load("- reach: {from: pc2, to: [pc1, pc3]}"), plan))
    assert ("pc2", ["ping", "10.0.1.123"]) in seen
    assert [r.ok for r in results] == [True, False]
    assert results[1].error and results[1].got == "pc3:eth0 holds no address from DHCP (waited 10 s)"


@pytest.mark.parametrize("held, gateway, ok, said", [
    ("10.0.2.120/24", "10.0.2.1", True, "10.0.2.120/24 (lease: 100 s left), gateway"),
    ("10.0.2.20/24", "10.0.2.1", False, "outside the pool 10.0.2.100 - 10.0.2.199"),
    ("10.0.2.120/24", "10.0.2.9", False, "gateway 10.0.2.9"),
])
def test_a_lease_is_judged_by_pool_and_gateway(fake, plan, held, gateway, ok, said):
    fake.probe = lambda node, argv: lease(held, gateway)
    result, = run_checks(fake, plan, plan_checks(yaml.safe_load("- dhcp: {host: pc3}"), plan))
    assert result.ok is ok and said in result.got, result.got


def test_a_reserved_host_must_hold_its_reservation(fake, plan):
    fake.probe = lambda node, argv: lease("10.0.2.101/24")
    result, = run_checks(fake, plan, plan_checks(yaml.safe_load("- dhcp: {host: pc2}"), plan))
    assert not result.ok and "not pc2 (10.0.2.50)" in result.got


def test_lab_ping_pings_a_leased_host_at_its_address_and_says_which_have_none(fake, plan):
    def probe(node, argv):
        return lease("10.0.2.150/24") if node == "pc3" else (1, {"probe": "dhcp", "ok": False, "error": "none"})

    fake.probe = probe
    results = all_pairs_ping(fake, plan)
    to_pc3 = [r for r in results if r.dst == "pc3"]
    assert to_pc3 and {r.address for r in to_pc3} == {"10.0.2.150"}
    to_pc1 = [r for r in results if r.dst == "pc1"]
    assert to_pc1 and all(not r.ok and r.address == "no lease" for r in to_pc1)


def test_a_redeploy_leaves_what_the_dhcp_client_installed(plan):
    static = compile_text(LAB.replace("pc2: {kind: host, interfaces: {eth0: dhcp}}",
                                      "pc2: {kind: host, interfaces: {eth0: 10.0.2.50/24}}")
                          .replace(", reservations: {pc2: 10.0.2.50}", "")).result()
    assert _stale(plan.nodes["pc2"], static.nodes["pc2"]) == []          # the same address, now written
    # written, then asked for: what the setup script gave goes; the client installs the lease's
    assert _stale(static.nodes["pc2"], plan.nodes["pc2"]) == ["ip addr del 10.0.2.50/24 dev eth0",
                                                              "ip route del 0.0.0.0/0 via 10.0.2.1"]


# two servers split lan1 (a shared LAN): each its own range, the same router, both reservations
SHARED = """
name: split
nodes:
  r1: {kind: router, interfaces: {eth0: 10.0.1.1/24}}
  a: {kind: host, interfaces: {eth0: 10.0.1.2/24},
      services: [{type: dhcp, pools: [{range: [10.0.1.100, 10.0.1.149], shared: true,
                                       reservations: {pc1: 10.0.1.50}}]}]}
  b: {kind: host, interfaces: {eth0: 10.0.1.3/24},
      services: [{type: dhcp, pools: [{range: [10.0.1.150, 10.0.1.199], shared: true}]}]}
  pc1: {kind: host, interfaces: {eth0: dhcp}}
  pc2: {kind: host, interfaces: {eth0: dhcp}}
lans:
  lan1: {members: [r1:eth0, a, b, pc1, pc2]}
"""


def test_two_servers_said_to_share_a_lan_split_it_and_both_know_its_reservations():
    plan = compile_text(SHARED).result()
    (pa,), (pb,) = plan.nodes["a"].dhcp["pools"], plan.nodes["b"].dhcp["pools"]
    assert (pa["range"], pb["range"]) == (["10.0.1.100", "10.0.1.149"], ["10.0.1.150", "10.0.1.199"])
    assert pa["shared"] is pb["shared"] is True and pa["router"] == pb["router"] == "10.0.1.1"
    mac = plan.nodes["pc1"].interface("eth0").mac
    assert pa["reservations"] == pb["reservations"] == [{"mac": mac, "address": "10.0.1.50", "hostname": "pc1"}]
    check, = plan_checks(yaml.safe_load("- dhcp: {host: pc2}"), plan)
    assert check.pool == ["10.0.1.100", "10.0.1.149", "10.0.1.150", "10.0.1.199"]
    assert check.expected == "an address in 10.0.1.100 - 10.0.1.149 or 10.0.1.150 - 10.0.1.199, gateway 10.0.1.1"
    fake = FakeBackend()
    fake.load(plan)
    for held, ok in (("10.0.1.170/24", True), ("10.0.1.120/24", True), ("10.0.1.90/24", False)):
        fake.probe = lambda node, argv, held=held: lease(held, "10.0.1.1")
        result, = run_checks(fake, plan, [check])
        assert result.ok is ok, result.got
    assert "outside the pool 10.0.1.100 - 10.0.1.149 or 10.0.1.150 - 10.0.1.199" in result.got


@pytest.mark.parametrize("edit, said", [
    (("shared: true}]}]}\n  pc1", "}]}]}\n  pc1"),
     "10.0.1.0/24 has a pool already (nodes.a.services[0].pools[0]): two servers on one LAN would both answer"),
    (("10.0.1.150, 10.0.1.199", "10.0.1.140, 10.0.1.199"),
     "the range 10.0.1.140 - 10.0.1.199 overlaps 10.0.1.100 - 10.0.1.149"),
    (("10.0.1.199], shared: true", "10.0.1.199], shared: true, router: 10.0.1.3"),
     "this pool gives the gateway 10.0.1.3, nodes.a.services[0].pools[0] gives 10.0.1.1"),
    (("10.0.1.199], shared: true", "10.0.1.199], shared: true, reservations: {pc1: 10.0.1.160}"),
     "pc1 is reserved 10.0.1.160 here and 10.0.1.50 by another server of its LAN"),
])
def test_a_shared_lan_is_refused_unless_every_pool_says_so_apart_and_alike(edit, said):
    text = SHARED.replace(*edit)
    assert text != SHARED
    errors = [p.message for p in compile_text(text).errors]
    assert any(said in e for e in errors), errors


def test_a_pool_said_shared_that_shares_with_no_one_is_warned():
    text = SHARED.replace("  b: {kind: host, interfaces: {eth0: 10.0.1.3/24},\n"
                          "      services: [{type: dhcp, pools: [{range: [10.0.1.150, 10.0.1.199], shared: true}]}]}\n",
                          "").replace("a, b, pc1", "a, pc1")
    result = compile_text(text)
    assert not result.errors
    assert any("no other server has a pool on 10.0.1.0/24" in w.message for w in result.warnings)
