"""ARP in the plan and the tools: the neigh expectation (a neighbour on the
node's own link, the MAC the plan gives it), its verdicts, `lab neigh`'s
names, and the lab's names in capture lines."""

import pytest
import yaml

from orchestrator.backend.protocol import ExecResult
from orchestrator.capture import Namer, count_kinds
from orchestrator.compile import compile_file
from orchestrator.compile.checks import plan_checks
from orchestrator.errors import TopologyError
from orchestrator.operate import neigh
from orchestrator.verify.runner import run_checks
from tests.conftest import LABS
from tests.unit.fakebackend import FakeBackend


@pytest.fixture(scope="module")
def plan():
    return compile_file(LABS / "arp").result()


def test_a_neighbour_is_checked_against_the_mac_the_plan_gives_its_address(plan):
    r1, named, given = plan_checks(yaml.safe_load("""
- neigh: {node: pc1, address: r1}
- neigh: {node: pc3, address: r1, mac: r1.eth1}
- neigh: {node: pc1, address: 192.168.1.11, mac: "02:00:00:00:01:AB"}
"""), plan)
    assert (r1.kind, r1.src, r1.address, r1.mac) == ("neigh", "pc1", "192.168.1.1", "02:00:00:00:01:01")
    assert r1.expected == "192.168.1.1 is-at 02:00:00:00:01:01 (r1:eth0)"
    assert (named.address, named.mac) == ("192.168.2.1", "02:00:00:00:02:01")   # r1's address on pc3's link
    assert given.mac == "02:00:00:00:01:ab"


@pytest.mark.parametrize("item, message", [
    ("{node: pc1, address: pc3}", "expect[0].neigh.address: pc3 (192.168.2.10) is not on a subnet of pc1: pc1 never "
                                  "resolves it by ARP; it resolves its gateway 192.168.1.1 instead"),
    ("{node: pc1, address: r1, mac: r9.eth0}", "expect[0].neigh.mac: unknown node 'r9'"),
    ("{node: lan1, address: r1}", "expect[0].neigh.node: 'lan1' is a switch and cannot be the node"),
])
def test_a_neighbour_the_node_never_asks_for_is_refused(plan, item, message):
    with pytest.raises(TopologyError) as info:
        plan_checks(yaml.safe_load(f"- neigh: {item}"), plan)
    assert [f"{p.where}: {p.message}" for p in info.value.problems] == [message]


@pytest.fixture
def fake(plan):
    fake = FakeBackend()
    fake.load(plan)
    return fake


@pytest.mark.parametrize("answer, ok, got", [
    ({"ok": True, "mac": "02:00:00:00:01:01", "state": "REACHABLE", "dev": "eth0"}, True,
     "02:00:00:00:01:01 (r1:eth0), REACHABLE on eth0"),
    ({"ok": True, "mac": "02:00:00:00:01:11", "state": "PERMANENT", "dev": "eth0"}, False,
     "02:00:00:00:01:11 (pc2:eth0), PERMANENT on eth0"),
    ((1, {"ok": False, "mac": None, "state": "INCOMPLETE", "error": "192.168.1.1 did not answer ARP (state "
                                                                     "INCOMPLETE)"}), False,
     "r1 (192.168.1.1) did not answer ARP (state INCOMPLETE)"),
])
def test_what_the_node_learnt_is_the_verdict(fake, plan, answer, ok, got):
    fake.probe = lambda node, argv: answer
    result, = run_checks(fake, plan, plan_checks(yaml.safe_load("- neigh: {node: pc1, address: r1}"), plan))
    assert (result.ok, result.got) == (ok, got)
    assert fake.probe_calls("neigh")[0] == ("pc1", ["neigh", "192.168.1.1", "--timeout", "2"])


def test_lab_neigh_names_each_entry_and_flags_a_mac_the_plan_does_not_give(fake, plan, monkeypatch):
    table = ('[{"dst":"192.168.1.1","dev":"eth0","lladdr":"02:00:00:00:01:11","state":["PERMANENT"]},'
             '{"dst":"192.168.1.11","dev":"eth0","lladdr":"02:00:00:00:01:11","state":["STALE"]},'
             '{"dst":"192.168.1.99","dev":"eth0","state":["FAILED"]}]')
    fake.exec_handlers.append(lambda node, argv: ExecResult(0, table, "") if argv[:3] == ["ip", "-j", "neigh"]
                              else None)
    monkeypatch.setattr("orchestrator.operate.attach", lambda name, backend=None: _Running(plan, fake))
    rows = neigh("arp", "pc1")
    assert [(r.address, r.node, r.mac_of, r.state) for r in rows] == [
        ("192.168.1.1", "r1", "pc2:eth0", "PERMANENT"), ("192.168.1.11", "pc2", "pc2:eth0", "STALE"),
        ("192.168.1.99", None, None, "FAILED")]
    assert rows[0].note == "the plan gives 192.168.1.1 to r1:eth0, whose MAC is 02:00:00:00:01:01"
    assert rows[1].note == rows[2].note == ""


class _Running:
    def __init__(self, plan, backend):
        self.plan, self.backend = plan, backend


def test_capture_lines_get_the_labs_names_and_are_counted():
    namer = Namer({"192.168.1.1": "r1", "192.168.2.10": "pc3"}, {"02:00:00:00:01:01": "r1:eth0"})
    line = ("02:00:00:00:01:10 > 02:00:00:00:01:01, ethertype IPv4 (0x0800), length 98: "
            "192.168.1.10.40000 > 192.168.2.10.80: Flags [S]")
    assert namer(line) == ("02:00:00:00:01:10 > 02:00:00:00:01:01 (r1:eth0), ethertype IPv4 (0x0800), length 98: "
                           "192.168.1.10.40000 > 192.168.2.10.80 (pc3): Flags [S]")
    assert namer("12:01:02.123456 ARP, Reply 192.168.1.1 is-at 02:00:00:00:01:01, length 28") == (
        "12:01:02.123456 ARP, Reply 192.168.1.1 (r1) is-at 02:00:00:00:01:01 (r1:eth0), length 28")
    seen: dict[str, int] = {}
    for text in ("ARP, Request who-has 192.168.1.1 tell 192.168.1.10, length 28",
                 "ARP, Reply 192.168.1.1 is-at 02:00:00:00:01:01, length 28",
                 "IP 192.168.1.10 > 192.168.2.10: ICMP echo request, id 1, seq 1, length 64",
                 "IP 0.0.0.0.68 > 255.255.255.255.67: BOOTP/DHCP, Request from 02:00:00:00:01:10, length 300",
                 "IP 192.168.1.10.1 > 192.168.2.10.80: Flags [S]"):
        count_kinds(seen, text)
    assert seen == {"ARP request": 1, "ARP reply": 1, "ICMP echo request": 1, "DHCP message": 1}


class PiecesStream:
    """A tcpdump whose stderr and stdout arrive in arbitrary pieces."""

    def __init__(self, items):
        self.items = items

    def chunks(self, poll_s=0.2):
        yield from self.items

    def stop(self, signal="INT"):
        pass

    def exit_code(self):
        return 0


def test_a_capture_reports_its_whole_listening_line_and_counts_what_went_by():
    from orchestrator.capture import run_capture

    ready, lines = [], []
    arp = (b"10:00:00.1 02:00:00:00:01:0a > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: "
           b"Request who-has 192.168.1.1 tell 192.168.1.10, length 28\n")
    stream = PiecesStream([(b"", b"tcpdump: verbose output suppressed\nlistening on eth"),
                           None, (b"", b"0, link-type EN10MB (Ethernet)\n"),
                           (arp[:30], b""), (arp[30:], b""),
                           (b"", b"1 packet captured\n1 packet received by filter\n")])
    result = run_capture(stream, "r1", on_line=lines.append, on_ready=ready.append,
                         namer=Namer({"192.168.1.1": "r1"}, {"02:00:00:00:01:0a": "pc1:eth0"}))
    assert ready == ["listening on eth0, link-type EN10MB (Ethernet)"]
    assert lines == [arp.decode().rstrip("\n").replace("192.168.1.1 ", "192.168.1.1 (r1) ")
                     .replace("01:0a ", "01:0a (pc1:eth0) ")]
    assert (result.packets, result.seen) == (1, {"ARP request": 1})


def test_ipv6_addresses_in_capture_lines_get_names_too_and_icmpv6_is_counted():
    from orchestrator.capture import Namer, count_kinds
    namer = Namer({"2001:db8:1:1::1": "r1", "2001:db8:1:2::10": "pc3", "fe80::6:c6ff:fe17:ed8b": "r1"},
                  {"02:06:c6:17:ed:8b": "r1:eth0"})
    ra = ("14:00:00.1 02:06:c6:17:ed:8b > 33:33:00:00:00:01, ethertype IPv6 (0x86dd), length 118: "
          "fe80::6:c6ff:fe17:ed8b > ff02::1: ICMP6, router advertisement, length 64")
    assert namer(ra) == ("14:00:00.1 02:06:c6:17:ed:8b (r1:eth0) > 33:33:00:00:00:01, ethertype IPv6 (0x86dd), "
                         "length 118: fe80::6:c6ff:fe17:ed8b (r1) > ff02::1: ICMP6, router advertisement, length 64")
    assert namer("IP6 2001:db8:1:1::1.5000 > 2001:db8:1:2::10.333: tcp") == \
        "IP6 2001:db8:1:1::1.5000 (r1) > 2001:db8:1:2::10.333 (pc3): tcp"
    assert namer("IP6 2001:db8:1:1::1 > 2001:db8:1:2::10: ICMP6, echo request") == \
        "IP6 2001:db8:1:1::1 (r1) > 2001:db8:1:2::10 (pc3): ICMP6, echo request"
    seen: dict[str, int] = {}
    count_kinds(seen, ra)
    assert seen == {"ICMPv6 router advertisement": 1}
