"""Every lab under labs/ deploys on the real engine and all its hosts reach
each other."""

import pytest

from orchestrator import lab as api
from tests.conftest import LABS

ALL = sorted(p.parent.name for p in LABS.glob("*/lab.yml"))


@pytest.mark.parametrize("lab", ALL)
def test_lab_deploys_and_every_host_reaches_every_host(backend, lab):
    name = f"t-lab-{lab}"[:32].rstrip("-")
    api.destroy(name, backend=backend)
    try:
        plan = api.deploy(LABS / lab, name=name, backend=backend).plan
        results = api.ping_all(name, backend=backend)
        hosts = [n for n in plan.nodes.values() if n.kind == "host"]
        assert len(results) == len(hosts) * (len(hosts) - 1)
        assert [f"{r.src}->{r.dst}: {r.detail}" for r in results if not r.ok] == []
    finally:
        api.destroy(name, backend=backend)


def test_computed_routes_take_the_routers_in_a_row(backend):
    name = "t-auto-path"
    api.destroy(name, backend=backend)
    try:
        plan = api.deploy(LABS / "five-subnets-auto", name=name, backend=backend).plan
        target = plan.nodes["pc6"].addresses()[0].split("/")[0]
        out = api.exec_in(name, "pc1", ["traceroute", "-n", "-q", "1", "-w", "2", target], backend=backend)
        hops = [line.split()[1] for line in out.stdout.splitlines()[1:]]
        owner = {a.split("/")[0]: n.name for n in plan.nodes.values() for a in n.addresses()}
        assert [owner.get(h) for h in hops] == ["r1", "r2", "r3", "pc6"]
    finally:
        api.destroy(name, backend=backend)
