"""labs/dns-hierarchy on real nodes: our DNS servers answer Debian's dig, `dig
+trace` walks root -> lab. -> example.lab. inside the lab, the plan's zone
answers reverse lookups, and a lab with no resolver names no server at all
(nothing asks a server outside the lab). The lab's own expectations run in
test_lab_test.py like every lab's."""

import pytest

from orchestrator import operate
from tests.integration.conftest import deployed_lab

NAME = "t-dns"


@pytest.fixture(scope="module")
def deployed(backend):
    yield from deployed_lab(backend, "dns-hierarchy", NAME)


def dig(backend, node, *args):
    res = operate.exec_in(NAME, node, ["dig", "+time=2", "+tries=2", *args], backend=backend)
    assert res.exit_code == 0, res.stdout + res.stderr
    return res.stdout


def address(plan, node):
    return plan.nodes[node].addresses()[0].split("/")[0]


def test_dig_trace_walks_the_hierarchy_inside_the_lab(backend, deployed):
    out = dig(backend, "pc1", "+trace", "www.example.lab")
    steps = [line.split("(")[-1].rstrip(") ").split(")")[0] for line in out.splitlines()
             if line.startswith(";; Received")]
    # the resolver for ". NS", then the root, the TLD and example.lab's server, each by its name
    assert steps[1:] == ["a.root.lab", "ns.nic.lab", "ns1.example.lab"], out
    assert f"www.example.lab.\t300\tIN\tA\t{address(deployed, 'web')}" in out
    servers = {line.split("from ")[1].split("#")[0] for line in out.splitlines() if line.startswith(";; Received")}
    lab_addresses = {a.split("/")[0] for n in deployed.nodes.values() for a in n.addresses()}
    assert servers <= lab_addresses   # every server asked is a node of the lab


def test_reverse_mx_and_cname_answers_from_dig(backend, deployed):
    web = address(deployed, "web")
    assert dig(backend, "pc2", "+short", "-x", web).split() == ["web.nodes.lab."]
    assert dig(backend, "pc1", "+short", "@auth1", "example.lab", "MX").split() == ["10", "mail.example.lab."]
    assert dig(backend, "pc1", "+short", "shop.other.lab").split() == ["www.example.lab.", web]
    assert "status: NXDOMAIN" in dig(backend, "pc1", "nothing.example.lab")
    assert dig(backend, "pc1", "+short", "+tcp", "www.example.lab").split() == [web]


def test_a_lab_without_a_resolver_names_no_server(backend, five_subnets):
    plan, _ = five_subnets
    res = operate.exec_in(plan.lab, "pc1", ["cat", "/etc/resolv.conf"], backend=backend)
    assert res.exit_code == 0 and "nameserver" not in res.stdout
    assert "runs no DNS resolver" in res.stdout
