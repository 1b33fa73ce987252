"""labs/arp on real nodes: a capture on both sides of the router shows the
ARP exchange on each LAN and the same IP packet in a new frame, with the
lab's names after addresses and MACs; `lab neigh` and the neigh expectation
catch a spoofed entry. (The lab's own expectations run in test_lab_test.py
like every lab's.)"""

import threading

import pytest

from orchestrator import operate
from tests.conftest import run_lab as lab
from tests.integration.conftest import deployed_lab

NAME = "t-arp"


@pytest.fixture(scope="module")
def deployed(backend):
    yield from deployed_lab(backend, "arp", NAME)


def _capture(backend, iface, lines, results, ready):
    results[iface] = operate.capture(NAME, "r1", iface, on_line=lines.append, count=4, seconds=15,
                                     bpf=["arp", "or", "icmp"], link_level=True,
                                     on_ready=lambda msg: ready.set(), backend=backend)


def test_the_router_keeps_the_ip_packet_and_writes_a_new_frame(backend, deployed):
    for node in ("pc1", "r1", "pc3"):
        assert operate.exec_in(NAME, node, ["ip", "neigh", "flush", "all"], backend=backend).ok
    lines: dict[str, list[str]] = {"eth0": [], "eth1": []}
    results: dict = {}
    ready = {iface: threading.Event() for iface in lines}
    threads = [threading.Thread(target=_capture, args=(backend, iface, lines[iface], results, ready[iface]))
               for iface in lines]
    for t in threads:
        t.start()
    assert all(ready[i].wait(10) for i in ready)
    assert operate.exec_in(NAME, "pc1", ["ping", "-c1", "-W2", "192.168.2.10"], backend=backend).ok
    for t in threads:
        t.join(20)
    lan1, lan2 = "\n".join(lines["eth0"]), "\n".join(lines["eth1"])
    # on lan1: pc1 asks for its gateway's MAC by broadcast, r1 answers it alone
    assert ("02:00:00:00:01:10 (pc1:eth0) > ff:ff:ff:ff:ff:ff" in lan1
            and "Request who-has 192.168.1.1 (r1) tell 192.168.1.10 (pc1)" in lan1), lan1
    assert "Reply 192.168.1.1 (r1) is-at 02:00:00:00:01:01 (r1:eth0)" in lan1, lan1
    # the echo request: to r1's MAC on lan1, from r1's other MAC to pc3's on lan2, same IP header
    request = "192.168.1.10 (pc1) > 192.168.2.10 (pc3): ICMP echo request"
    assert any("02:00:00:00:01:10 (pc1:eth0) > 02:00:00:00:01:01 (r1:eth0)" in ln and request in ln
               for ln in lines["eth0"]), lan1
    assert any("02:00:00:00:02:01 (r1:eth1) > 02:00:00:00:02:10 (pc3:eth0)" in ln and request in ln
               for ln in lines["eth1"]), lan2
    assert "Request who-has 192.168.2.10 (pc3) tell 192.168.2.1 (r1)" in lan2, lan2
    for iface in lines:
        assert results[iface].seen == {"ARP request": 1, "ARP reply": 1, "ICMP echo request": 1,
                                       "ICMP echo reply": 1}, (iface, lines[iface])


def test_a_spoofed_neighbour_entry_is_flagged_and_fails_the_check(backend, deployed):
    spoof = ["ip", "neigh", "replace", "192.168.1.1", "lladdr", "02:00:00:00:01:11", "dev", "eth0",
             "nud", "permanent"]
    assert operate.exec_in(NAME, "pc1", spoof, backend=backend).ok
    try:
        rows = {r.address: r for r in operate.neigh(NAME, "pc1", backend=backend)}
        row = rows["192.168.1.1"]
        assert (row.node, row.mac_of, row.state) == ("r1", "pc2:eth0", "PERMANENT")
        assert row.note == "the plan gives 192.168.1.1 to r1:eth0, whose MAC is 02:00:00:00:01:01"
        out = lab("neigh", NAME, "pc1")
        assert out.returncode == 0, out.stderr
        assert "pc2:eth0" in out.stdout and "02:00:00:00:01:01" in out.stdout
        results = {r.id: r for r in operate.run_lab_tests(NAME, backend=backend)}
        check = results["expect[0].neigh"]
        assert not check.ok and "02:00:00:00:01:11 (pc2:eth0)" in check.got, check
    finally:
        operate.exec_in(NAME, "pc1", ["ip", "neigh", "del", "192.168.1.1", "dev", "eth0"], backend=backend)
    results = {r.id: r for r in operate.run_lab_tests(NAME, backend=backend)}
    assert all(r.ok for r in results.values()), [r for r in results.values() if not r.ok]
