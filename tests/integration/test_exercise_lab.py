"""Exercises on real nodes: a student's lab dealt broken, `lab test` failing
until the student mends it with ordinary commands; and the negative control
(`lab class check`) proving, on real kernels, that every kind of fault breaks
what it says and is taken back."""

import json

import pytest

from orchestrator import lab as api
from tests.conftest import LABS
from tests.conftest import run_lab as lab

NAME = "t-exercise"


def test_a_dealt_lab_fails_its_checks_until_the_student_mends_it(backend):
    api.destroy(NAME, backend=backend)
    try:
        out = lab("deploy", "--exercise", str(LABS / "exercises" / "fix-the-routing"), "--name", NAME)
        assert out.returncode == 0, out.stderr
        assert "exercise 'Fix the routing' dealt: 2 faults in the nodes (not shown)" in out.stdout
        assert "192.168.2.99" not in out.stdout + out.stderr           # what is broken is not told
        broken = lab("test", NAME, "--json")
        assert broken.returncode == 1
        failed = {r["what"] for r in json.loads(broken.stdout)["results"] if not r["ok"]}
        assert {"LAN1 to LAN3 through every router", "pc4 leaves its LAN by r2"} <= failed
        assert lab("exec", NAME, "r3", "--", "ip", "route", "add", "192.168.1.0/24", "via",
                   "10.0.23.1").returncode == 0
        half = lab("test", NAME, "--json")
        assert half.returncode == 1
        assert {r["what"] for r in json.loads(half.stdout)["results"] if not r["ok"]} == {
            "pc4 leaves its LAN by r2", *(f"every PC reaches every PC [{a} -> {b}]" for a, b in
                                          [("pc4", p) for p in ("pc1", "pc2", "pc5", "pc6")]
                                          + [(p, "pc4") for p in ("pc1", "pc2", "pc5", "pc6")])}
        assert lab("exec", NAME, "pc4", "--", "ip", "route", "replace", "default", "via",
                   "192.168.2.1").returncode == 0
        mended = lab("test", NAME)
        assert mended.returncode == 0, mended.stdout
        assert "32/32 checks passed" in mended.stdout
    finally:
        api.destroy(NAME, backend=backend)


EVERY_KIND = """
name: t-faults
nodes:
  r1: {kind: router, interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}, routes: [{to: 10.0.9.0/24, via: 10.0.2.2}],
       nat: {out: eth1}}
  r2: {kind: router, interfaces: {eth0: 10.0.2.2/24, eth1: 10.0.9.1/24}, routes: [{to: 10.0.1.0/24, via: 10.0.2.1}]}
  pc1: {kind: host, interfaces: {eth0: 10.0.1.10/24}, gateway: 10.0.1.1}
  pc3: {kind: host, interfaces: {eth0: 10.0.1.11/24}, gateway: 10.0.1.1}
  pc4: {kind: host, interfaces: {eth0: 10.0.1.12/24}, gateway: 10.0.1.1}
  pc2: {kind: host, interfaces: {eth0: 10.0.9.10/24}, gateway: 10.0.9.1, services: [{type: http, root: www}]}
lans:
  lan1: {members: [r1:eth0, pc1, pc3, pc4]}
links:
  - [r1:eth1, r2:eth0]
  - [r2:eth1, pc2:eth0]
exercise:
  faults:
    - route_removed: {node: r1, to: 10.0.9.0/24}
    - route_wrong: {node: r1, to: 10.0.9.0/24, via: 10.0.2.9}    # no one (a via on the LAN of the sender would
                                                                # also send pc1 ICMP redirects, which it keeps)
    - gateway_wrong: {node: pc1, via: 10.0.1.99}
    - mask_wrong: {node: pc3, prefix: 16}
    - address_clash: {node: pc4, address: pc1}
    - link_down: {node: r2, iface: eth1}
    - firewall_block: {node: r1, from: pc1, to: pc2, proto: tcp:80}
    - nat_missing: {node: r1}
    - service_stopped: {node: pc2}
  checks:
    - reach: {from: pc1, to: [pc2, pc3, pc4]}
    - reach: {from: pc3, to: pc2}
    - reach: {from: pc1, to: pc2, proto: tcp:80}
    - nat_source: {from: pc1, to: pc2, seen_as: r1.eth1}
    - service: {node: pc2, from: pc1, http: /, timeout: 1s}
"""


def test_every_kind_of_fault_breaks_what_it_says_and_is_taken_back(backend, tmp_path):
    (tmp_path / "lab.yml").write_text(EVERY_KIND)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("pc2\n")
    out = lab("class", "check", str(tmp_path), "--json")
    got = json.loads(out.stdout)
    assert out.returncode == 0 and got["ok"], got
    noticed = {f["fault"].split(".")[-1]: set(f["noticed_by"]) for f in got["faults"]}
    assert noticed["firewall_block"] == {"reach pc1 -> pc2 tcp:80", "nat_source pc1 -> pc2",    # HTTP, all
                                         "service pc1 -> pc2:80/"}
    assert noticed["nat_missing"] == {"nat_source pc1 -> pc2"}     # the only one that looks at the source
    # frozen: the kernel still completes a TCP handshake, but nothing answers over it
    assert noticed["service_stopped"] == {"nat_source pc1 -> pc2", "service pc1 -> pc2:80/"}
    assert "reach pc1 -> pc4 icmp" in noticed["address_clash"] and "reach pc3 -> pc2 icmp" in noticed["mask_wrong"]
    assert all(f["back"] for f in got["faults"])
    assert got["unbroken"]["passed"] == got["unbroken"]["total"] == 7
    assert [s.name for s in api.list_labs(backend=backend) if s.name == "t-faults-check"] == []


def test_an_exercise_whose_fault_no_check_notices_is_refused(backend, tmp_path):
    text = EVERY_KIND.split("exercise:")[0] + """exercise:
  faults:
    - link_down: {node: r2, iface: eth1}
    - gateway_wrong: {node: pc3, via: 10.0.1.99}
  checks:
    - reach: {from: pc1, to: pc2}
"""
    (tmp_path / "lab.yml").write_text(text)
    (tmp_path / "www").mkdir()
    out = lab("class", "check", str(tmp_path))
    assert out.returncode == 1
    assert "no check notices 'pc3: default gateway 10.0.1.99 (not 10.0.1.1)' (exercise.faults[1].gateway_wrong)" \
        in out.stdout


def test_checks_kept_in_a_file_of_their_own_prove_and_test_the_exercise(backend, tmp_path):
    text = (LABS / "exercises" / "fix-the-routing" / "lab.yml").read_text()
    head, rest = text.split("  checks:\n", 1)
    (tmp_path / "lab.yml").write_text(head + "\n" + rest[rest.index("# The unbroken lab"):])   # no checks: in it
    private = tmp_path / "private.yml"
    private.write_text("- all_pairs: hosts\n- path: {from: pc4, to: pc1, via: [r2, r1]}\n")
    out = lab("class", "check", str(tmp_path), "--checks", str(private), "--json")
    got = json.loads(out.stdout)
    assert out.returncode == 0 and got["ok"] and got["unbroken"]["total"] == 31, got
    name = "t-exercise-private"
    api.destroy(name, backend=backend)
    try:
        assert lab("deploy", "--exercise", str(tmp_path), "--name", name).returncode == 0
        said = lab("test", name)
        assert said.returncode == 1 and "--checks FILE" in said.stderr
        failing = lab("test", name, "--checks", str(private), "--json")
        assert failing.returncode == 1 and json.loads(failing.stdout)["failed"] > 0
    finally:
        api.destroy(name, backend=backend)


def test_opening_the_whole_firewall_does_not_pass_open_the_firewall(backend):
    path = str(LABS / "exercises" / "open-the-firewall")
    name = "t-exercise-fw"
    api.destroy(name, backend=backend)
    try:
        assert lab("deploy", "--exercise", path, "--name", name).returncode == 0
        assert lab("exec", name, "fw", "--", "nft", "flush", "ruleset").returncode == 0     # everything open
        flushed = lab("test", name, "--json")
        failed = {r["what"] for r in json.loads(flushed.stdout)["results"] if not r["ok"]}
        assert flushed.returncode == 1 and "outside cannot reach inside" in failed, failed
        assert lab("deploy", "--force", "--exercise", path, "--name", name).returncode == 0
        for table in ("labnet_exercise0", "labnet_exercise2"):    # the default variant's two rules, taken out
            assert lab("exec", name, "fw", "--", "nft", "delete", "table", "inet", table).returncode == 0
        mended = lab("test", name)
        assert mended.returncode == 0, mended.stdout
    finally:
        api.destroy(name, backend=backend)


@pytest.mark.parametrize("exercise", sorted(p.parent.name for p in (LABS / "exercises").glob("*/lab.yml")))
def test_every_shipped_exercise_is_sound(backend, exercise):
    out = lab("class", "check", str(LABS / "exercises" / exercise), "--json")
    got = json.loads(out.stdout)
    assert out.returncode == 0 and got["ok"], got["problems"]
