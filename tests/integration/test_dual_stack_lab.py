"""labs/dual-stack on real nodes: each PC's kernel makes by SLAAC the address
the plan predicts (prefix + EUI-64 of its MAC) and learns its default router
from r's advertisements; Debian's iputils `ping -6` goes between every pair
of PCs; a router advertisement is captured on a LAN, named after the router
that sent it. The lab's own checks (both families) run in test_lab_test.py
and on the netns backend in test_netns_backend.py, like every lab's."""

import threading

import pytest

from orchestrator import operate
from orchestrator.compile.addressing6 import link_local
from tests.integration.conftest import deployed_lab

NAME = "t-dual"
HOSTS = [f"pc{n}" for n in range(1, 7)]


@pytest.fixture(scope="module")
def deployed(backend):
    yield from deployed_lab(backend, "dual-stack", NAME)


def run(backend, node, *argv):
    res = operate.exec_in(NAME, node, list(argv), backend=backend)
    assert res.ok, res.stdout + res.stderr
    return res.stdout


def test_slaac_makes_the_address_the_plan_predicts_and_the_route_from_the_ra(backend, deployed):
    for host in HOSTS:
        iface = deployed.nodes[host].interface("eth0")
        assert iface.slaac
        got = run(backend, host, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global").split()
        assert got[got.index("inet6") + 1] == iface.address6 and "dynamic" in got, got
        default = run(backend, host, "ip", "-6", "route", "show", "default")
        lan = next(s for s in deployed.segments if f"{host}:eth0" in s.ports)
        node, _, port = next(p for p in lan.ports if p.startswith("r")).partition(":")
        router = deployed.nodes[node].interface(port)     # its LAN's router, by its link-local address
        assert "proto ra" in default and default.split()[2] == link_local(router.mac), default


def test_iputils_ping6_goes_between_every_pair_of_pcs(backend, deployed):
    address = {h: deployed.nodes[h].interface("eth0").address6.split("/")[0] for h in HOSTS}
    for src in HOSTS:
        targets = " ".join(a for h, a in address.items() if h != src)
        out = operate.exec_in(NAME, src, ["sh", "-c", f"for a in {targets}; do ping -6 -c1 -W2 $a >/dev/null "
                                                      "|| { echo unreachable $a; exit 1; }; done"], backend=backend)
        assert out.ok, f"{src}: {out.stdout}{out.stderr}"


def test_lab_ping_6_pings_every_pc_from_every_pc(backend, deployed):
    results = operate.ping_all(NAME, backend=backend, family=6)
    assert len(results) == 30 and all(r.ok and ":" in r.address for r in results), results


def test_a_router_advertisement_is_captured_and_named(backend, deployed):
    lines: list[str] = []
    ready = threading.Event()
    result = operate.capture(NAME, "pc3", "eth0", on_line=lines.append, count=1, seconds=25,
                             bpf=["icmp6", "and", "ip6[40]", "==", "134"], link_level=True,
                             on_ready=lambda _msg: ready.set(), backend=backend)
    text = "\n".join(lines)
    assert result.packets == 1 and "ICMP6, router advertisement" in text, text
    r2 = deployed.nodes["r2"].interface("eth0")
    assert f"{link_local(r2.mac)} (r2) > ff02::1" in text and f"{r2.mac} (r2:eth0)" in text, text
    assert result.seen == {"ICMPv6 router advertisement": 1}



def test_firewall_rules_allow_and_deny_each_family_as_written(backend, tmp_path):
    from orchestrator import lab as api
    from orchestrator.operate import run_lab_tests
    from tests.labtexts import DUAL_FIREWALL
    (tmp_path / "lab.yml").write_text(DUAL_FIREWALL)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("web\n")
    api.destroy("t-fw6", backend=backend)
    try:
        api.deploy(tmp_path, backend=backend)
        results = run_lab_tests("t-fw6", backend=backend)
        assert [(r.what, r.ok) for r in results if not r.ok] == []
        assert len(results) == 10
    finally:
        api.destroy("t-fw6", backend=backend)
