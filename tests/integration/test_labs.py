"""Every lab under labs/ deploys on the real engine and all its hosts reach
each other."""

import time

import pytest

from orchestrator import lab as api
from orchestrator import operate
from tests.conftest import LABS

ALL = sorted(p.parent.name for p in LABS.glob("*/lab.yml"))


def open_labs():
    """Labs meant to let every host reach every host: no NAT, no firewall
    (those labs say what must and must not pass in their own expect:
    section, which test_lab_test.py runs)."""
    out = []
    for lab in ALL:
        plan = api.plan_lab(LABS / lab)[0]
        if not any(n.nat or n.firewall for n in plan.nodes.values()):
            out.append(lab)
    return out


@pytest.mark.parametrize("lab", open_labs())
def test_lab_deploys_and_every_host_reaches_every_host(backend, lab):
    name = f"t-lab-{lab}"[:32].rstrip("-")
    api.destroy(name, backend=backend)
    try:
        plan = api.deploy(LABS / lab, name=name, backend=backend).plan
        # static labs answer at once; the routing daemon needs a moment to converge
        deadline = time.monotonic() + (20 if plan.routing == "dynamic" else 0)
        while True:
            results = operate.ping_all(name, backend=backend)
            if all(r.ok for r in results) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        hosts = [n for n in plan.nodes.values() if n.kind == "host"]
        pinging = [n for n in hosts if n.stack is None]   # a user-space stack host is pinged, does not ping
        assert len(results) == len(pinging) * (len(hosts) - 1)
        assert [f"{r.src}->{r.dst}: {r.detail}" for r in results if not r.ok] == []
    finally:
        api.destroy(name, backend=backend)


def test_computed_routes_take_the_routers_in_a_row(backend):
    name = "t-auto-path"
    api.destroy(name, backend=backend)
    try:
        plan = api.deploy(LABS / "five-subnets-auto", name=name, backend=backend).plan
        target = plan.nodes["pc6"].addresses()[0].split("/")[0]
        out = operate.exec_in(name, "pc1", ["traceroute", "-n", "-q", "1", "-w", "2", target], backend=backend)
        hops = [line.split()[1] for line in out.stdout.splitlines()[1:]]
        owner = {a.split("/")[0]: n.name for n in plan.nodes.values() for a in n.addresses()}
        assert [owner.get(h) for h in hops] == ["r1", "r2", "r3", "pc6"]
    finally:
        api.destroy(name, backend=backend)
