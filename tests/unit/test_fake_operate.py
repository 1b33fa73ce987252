"""Operating a running lab on the in-memory backend: links down and up (and
their routes), impairments, logs and capture on nodes that do not run."""

import pytest

from orchestrator import operate
from orchestrator.backend.protocol import ExecResult
from orchestrator.errors import LabStateError
from orchestrator.lab import plan_lab
from orchestrator.model.specs import Impairment
from tests.conftest import LABS
from tests.unit.fakebackend import FakeBackend, FakeStream


def deployed(lab):
    fake = FakeBackend()
    fake.load(plan_lab(LABS / lab)[0])
    return fake


def routes(fake, lab, node, iface):
    return fake.node(lab, node).routes.get(iface, {})


def test_a_link_down_and_up_again_gets_its_static_routes_back():
    fake = deployed("five-subnets")
    before = routes(fake, "five-subnets", "r1", "eth1")
    assert set(before) == {"192.168.2.0/24", "192.168.3.0/24", "10.0.23.0/30"}
    link = operate.set_link("five-subnets", "r1", "r2", up=False, backend=fake)
    assert {str(link.a), str(link.b)} == {"r1:eth1", "r2:eth1"}
    assert [i.state for i in fake.interfaces("five-subnets", "r1")] == ["up", "down"]
    assert routes(fake, "five-subnets", "r1", "eth1") == {}  # the kernel dropped them
    operate.set_link("five-subnets", "r1", "r2", up=True, backend=fake)
    assert routes(fake, "five-subnets", "r1", "eth1") == before
    assert [i.state for i in fake.interfaces("five-subnets", "r2")] == ["up", "up", "up"]


def test_a_link_down_and_up_again_gets_its_computed_routes_back():
    fake = deployed("five-subnets-auto")
    before = routes(fake, "five-subnets-auto", "r1", "eth1")
    assert set(before) == {"192.168.1.0/24", "192.168.2.0/24", "10.0.0.4/30"}
    operate.set_link("five-subnets-auto", "r1", "r2", up=False, backend=fake)
    operate.set_link("five-subnets-auto", "r1", "r2", up=True, backend=fake)
    assert routes(fake, "five-subnets-auto", "r1", "eth1") == before  # r1 reaches LAN2 and LAN3 again


def test_impair_and_clear():
    fake = deployed("five-subnets")
    assert operate.impair("five-subnets", "r1:eth1", Impairment(delay_ms=50), fake) == ("r1", "eth1", "netem")
    assert operate.impair("five-subnets", "pc1", Impairment(rate_kbit=512), fake) == ("pc1", "eth0", "tbf")
    assert operate.impairments("five-subnets", fake) == {("pc1", "eth0"): Impairment(rate_kbit=512),
                                                         ("r1", "eth1"): Impairment(delay_ms=50)}
    assert operate.clear("five-subnets", "r1:eth1", fake) == ("r1", "eth1", True)
    assert operate.clear("five-subnets", "r1:eth1", fake) == ("r1", "eth1", False)


def test_logs_are_listed_and_streamed():
    fake = deployed("five-subnets")
    fake.exec_handlers.append(lambda node, argv: ExecResult(0, "120 http.log\n45 supervisor.log\n", "")
                              if argv[:2] == ["sh", "-c"] else None)
    fake.on_stream = lambda node, argv: FakeStream([b"GET / 200\n", b"GET /x 404\n"])
    assert operate.list_logs("five-subnets", "pc1", fake) == [("http", 120), ("supervisor", 45)]
    got = []
    operate.logs("five-subnets", "pc1", "http", on_text=got.append, backend=fake)
    assert got == ["GET / 200\n", "GET /x 404\n"]
    assert fake.called("stream") == ["pc1: tail -n +1 /var/log/labnet/http.log"]


def test_capture_on_a_stopped_node_says_how_to_start_it():
    fake = deployed("five-subnets")
    fake.stop("five-subnets", "pc1")
    with pytest.raises(LabStateError, match=r"node pc1 of lab five-subnets is exited, not running "
                                            r"\(start it again with: lab repair five-subnets\)"):
        operate.capture("five-subnets", "pc1", "eth0", on_line=print, backend=fake)
