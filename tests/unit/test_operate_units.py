"""Operating a lab without an engine: units, link lookup, destroy --all, the CLI's checks."""

import pytest
from click.testing import CliRunner

from orchestrator import lab as api
from orchestrator import operate
from orchestrator.capture import captured_count, tcpdump_argv
from orchestrator.cli import main
from orchestrator.errors import UsageError
from orchestrator.lab import plan_lab
from orchestrator.model.specs import Impairment
from orchestrator.model.units import format_rate
from tests.conftest import LABS
from tests.unit.fakebackend import QuietFakeBackend as FakeBackend


@pytest.mark.parametrize("text, ms", [("50ms", 50), ("1.5s", 1500), ("250us", 0.25), (" 5 ms", 5), ("0ms", 0)])
def test_durations(text, ms):
    assert operate.parse_duration_ms(text) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["50", "ms", "5 min", "-5ms", "61s"])
def test_bad_durations(text):
    with pytest.raises(UsageError, match="--delay"):
        operate.parse_duration_ms(text)


@pytest.mark.parametrize("text, pct", [("2%", 2), ("0.5%", 0.5), ("100", 100)])
def test_percent(text, pct):
    assert operate.parse_percent(text) == pct


@pytest.mark.parametrize("text", ["101%", "two", "-1%"])
def test_bad_percent(text):
    with pytest.raises(UsageError, match="--loss"):
        operate.parse_percent(text)


@pytest.mark.parametrize("text, kbit", [("10mbit", 10_000), ("512kbit", 512), ("1gbit", 1_000_000),
                                        ("1.5mbit", 1500), ("10MBIT", 10_000)])
def test_rates(text, kbit):
    assert operate.parse_rate_kbit(text) == kbit


def test_bad_rates():
    with pytest.raises(UsageError, match="in bits: mbit, not mb"):
        operate.parse_rate_kbit("10mb")
    with pytest.raises(UsageError, match="smallest rate"):
        operate.parse_rate_kbit("1kbit")
    with pytest.raises(UsageError, match="e.g. 512kbit"):
        operate.parse_rate_kbit("fast")


def test_make_impairment():
    imp = operate.make_impairment("50ms", "5ms", "2%", "10mbit")
    assert imp == Impairment(delay_ms=50, jitter_ms=5, loss_pct=2, rate_kbit=10_000)
    assert imp.describe() == "delay 50ms ±5ms, loss 2%, rate 10mbit"
    with pytest.raises(UsageError, match="give --delay too"):
        operate.make_impairment(jitter="5ms")
    with pytest.raises(UsageError, match="--clear"):
        operate.make_impairment()
    assert format_rate(1500) == "1500kbit" and format_rate(2_000_000) == "2gbit"


@pytest.fixture(scope="module")
def plan():
    return plan_lab(LABS / "five-subnets")[0]


def test_find_link(plan):
    link = operate.find_link(plan, "r2", "r1")
    assert {str(link.a), str(link.b)} == {"r1:eth1", "r2:eth1"}
    assert str(operate.find_link(plan, "pc1", "s1:eth0").a) == "pc1:eth0"
    with pytest.raises(UsageError, match=r"no link between pc1 and r1 .*pc1 is linked to: s1"):
        operate.find_link(plan, "pc1", "r1")
    with pytest.raises(UsageError, match="has no node 'r9'"):
        operate.find_link(plan, "r1", "r9")
    with pytest.raises(UsageError, match="no link between pc1:eth7"):
        operate.find_link(plan, "pc1:eth7", "s1")


def test_find_link_needs_an_interface_when_there_are_several(plan):
    doubled = plan.model_copy(deep=True)
    extra = doubled.links[-1].model_copy(deep=True)
    extra.id = len(doubled.links)
    extra.a.iface, extra.b.iface = "eth9", "eth9"
    doubled.links.append(extra)
    with pytest.raises(UsageError, match="joined by 2 links .*name the interface, e.g. r2:eth2"):
        operate.find_link(doubled, "r2", "r3")
    assert operate.find_link(doubled, "r2:eth9", "r3").b.iface == "eth9"


def test_node_iface(plan):
    assert operate.node_iface(plan, "pc1") == ("pc1", "eth0")
    assert operate.node_iface(plan, "r2:eth2") == ("r2", "eth2")
    with pytest.raises(UsageError, match=r"r2 has 3 interfaces \(eth0, eth1, eth2\): say which"):
        operate.node_iface(plan, "r2")
    with pytest.raises(UsageError, match="r2 has no interface 'eth5'"):
        operate.node_iface(plan, "r2:eth5")
    with pytest.raises(UsageError, match="expected NODE:IFACE"):
        operate.node_iface(plan, "r2:")


def test_tcpdump_argv():
    assert tcpdump_argv("eth0", pcap=True, count=4, bpf=["icmp"]) == \
        ["tcpdump", "-i", "eth0", "-n", "-U", "-w", "-", "-c", "4", "icmp"]
    assert tcpdump_argv("eth1", pcap=False, count=None, bpf=["arp", "or", "icmp"], link_level=True) == \
        ["tcpdump", "-i", "eth1", "-n", "-l", "-e", "arp", "or", "icmp"]
    assert captured_count("listening on eth0\n12 packets captured\n12 packets received by filter") == 12
    assert captured_count("1 packet captured") == 1


def test_destroy_all_destroys_every_listed_lab():
    fake = FakeBackend({"a": 3, "b": 12})
    events = []
    assert api.destroy_all(fake, events.append) == {"a": 3, "b": 12}
    assert fake.destroyed == ["a", "b"] and fake.labs == {}
    assert [e.message for e in events] == ["removing lab a", "removing lab b"]
    assert api.destroy_all(fake) == {}


def test_cli_checks_units_before_touching_the_engine():
    result = CliRunner().invoke(main, ["impair", "nolab", "r1:eth0", "--delay", "50"])
    assert result.exit_code == 1
    assert "--delay '50': give a time with its unit" in result.output
    result = CliRunner().invoke(main, ["impair", "nolab", "r1:eth0", "--clear", "--loss", "1%"])
    assert result.exit_code == 1 and "--clear takes no" in result.output


def test_cli_graph_of_a_lab_file(tmp_path):
    out = tmp_path / "lab.mmd"
    result = CliRunner().invoke(main, ["graph", str(LABS / "five-subnets"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("flowchart TB")
    result = CliRunner().invoke(main, ["graph", str(LABS / "five-subnets"), "--dot"])
    assert result.exit_code == 0 and result.output.startswith('graph "five-subnets"')
