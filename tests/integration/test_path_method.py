"""`path` checks choose what their traceroute sends (`method: icmp | udp |
tcp[:PORT]`), on a real lab whose firewall lets ICMP and TCP port 80 through
but not UDP: the default (icmp) passes where classic UDP traceroute cannot."""

import re

import pytest
import yaml

from orchestrator import lab as api
from orchestrator.compile.checks import plan_checks
from orchestrator.operate import run_lab_tests
from orchestrator.verify.runner import run_checks

NAME = "h4-path-method"
LAB = f"""
name: {NAME}
nodes:
  fw:
    kind: router
    firewall:
      forward:
        policy: drop
        rules:
          - {{proto: icmp}}
          - {{to: srv, proto: tcp, port: 80}}
  pc1: {{kind: host}}
  srv:
    kind: host
    services: [{{type: http, port: 80, root: www}}, {{type: udp-echo, port: 7}}]
lans:
  inside: {{prefix: 192.168.51.0/24, members: [fw, pc1]}}
  servers: {{prefix: 192.168.52.0/24, members: [fw, srv]}}
expect:
  - path: {{from: pc1, to: srv, via: [fw], name: default method, wait: 5s}}
  - path: {{from: pc1, to: srv, via: [fw], method: icmp, name: icmp, wait: 5s}}
  - path: {{from: pc1, to: srv, via: [fw], method: tcp, name: tcp to port 80, wait: 5s}}
  - deny: {{from: pc1, to: srv, proto: udp:7, name: the firewall drops udp}}
"""


@pytest.fixture(scope="module")
def lab(backend, tmp_path_factory):
    folder = tmp_path_factory.mktemp("h4-path")
    (folder / "www").mkdir()
    (folder / "www" / "index.html").write_text("hello\n")
    (folder / "lab.yml").write_text(LAB)
    api.destroy(NAME, backend=backend)
    try:
        yield api.deploy(folder, backend=backend).plan
    finally:
        api.destroy(NAME, backend=backend)


def test_the_labs_own_path_checks_pass_through_a_firewall_that_drops_udp(lab, backend):
    results = run_lab_tests(NAME, backend)
    assert [r.what for r in results] == ["default method", "icmp", "tcp to port 80", "the firewall drops udp"]
    assert [r.message for r in results if not r.ok] == []
    assert all(r.got == "fw -> srv" for r in results[:3])


def test_methods_the_firewall_drops_stop_at_it_and_say_so(lab, backend):
    checks = plan_checks(yaml.safe_load("""
- path: {from: pc1, to: srv, via: [fw], method: udp, name: udp}
- path: {from: pc1, to: srv, via: [fw], method: 'tcp:81', name: tcp 81}
"""), lab)
    results = run_checks(backend, lab, checks)
    assert [(r.what, r.ok, r.got) for r in results] == [
        ("udp", False, "fw (target not reached within 4 hops)"),
        ("tcp 81", False, "fw (target not reached within 4 hops)"),
    ]
    assert re.fullmatch(r"hops: fw \(192\.168\.51\.\d+\)", results[0].detail), results[0].detail
