"""nftables rulesets rendered from templates/node/nftables.nft.j2, against
golden files (rewrite them after a deliberate change with
LABNET_UPDATE_GOLDEN=1), plus the rules that matter checked one by one."""

import difflib
import os
from pathlib import Path

import pytest

from orchestrator.compile import compile_file
from orchestrator.contract import NFT_RULESET, SETUP_SCRIPT
from orchestrator.render.files import render_plan

ROOT = Path(__file__).resolve().parent.parent.parent
GOLDEN = Path(__file__).parent / "render"
CASES = [("home-nat", "gw"), ("dmz-firewall", "fw"), ("dmz-firewall", "web")]


def ruleset(lab, node):
    plan = compile_file(ROOT / "labs" / lab).result()
    return render_plan(plan)[node]


@pytest.mark.parametrize("lab,node", CASES, ids=[f"{lab}-{node}" for lab, node in CASES])
def test_ruleset_matches_golden_file(lab, node):
    got = ruleset(lab, node)[NFT_RULESET]
    golden = GOLDEN / f"{lab}-{node}.nft"
    if os.environ.get("LABNET_UPDATE_GOLDEN"):
        golden.write_text(got)
    want = golden.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), golden.name, "now"))
        pytest.fail(f"the ruleset changed:\n{diff}", pytrace=False)


def test_port_forward_and_masquerade_use_resolved_addresses():
    text = ruleset("home-nat", "gw")[NFT_RULESET]
    assert 'iifname "eth1" tcp dport 8080 dnat to 192.168.1.12:80' in text
    assert 'oifname "eth1" ip saddr { 192.168.1.0/24 } masquerade' in text
    assert "ct status dnat accept" in text
    assert text.startswith("#!/usr/sbin/nft -f\n")
    assert "flush ruleset" in text


def test_names_resolve_to_addresses_and_reject_sends_resets():
    text = ruleset("dmz-firewall", "fw")[NFT_RULESET]
    assert "ip saddr { 203.0.113.0/24 } ip daddr { 192.168.20.10/32 } tcp dport 80 accept" in text
    assert "meta l4proto tcp reject with tcp reset" in text
    assert "reject with icmpx type admin-prohibited" in text
    assert text.index("ct state established,related accept") < text.index("tcp dport 80 accept")


def test_ruleset_is_loaded_by_the_setup_script_only_where_needed():
    assert "nft -f /etc/labnet/nftables.nft" in ruleset("home-nat", "gw")[SETUP_SCRIPT]
    assert NFT_RULESET not in ruleset("home-nat", "pc1")
    assert "nft -f" not in ruleset("home-nat", "pc1")[SETUP_SCRIPT]



def test_a_dual_stack_ruleset_has_each_rule_in_the_families_it_holds_for(tmp_path):
    from orchestrator.compile import compile_text
    from tests.labtexts import DUAL_FIREWALL
    (tmp_path / "www").mkdir()
    plan = compile_text(DUAL_FIREWALL, folder=tmp_path).result()
    files = render_plan(plan)
    web6 = plan.nodes["web"].interface("eth0").address6.split("/")[0]
    lines = [ln.strip() for ln in files["fw"][NFT_RULESET].splitlines() if "comment" in ln]
    rules = {}
    for ln in lines:
        rules.setdefault(ln.rsplit('"', 2)[1].rsplit(".", 1)[1], []).append(ln.rsplit(" comment", 1)[0])
    assert rules["rules[0]"] == ["ip saddr { 192.168.0.0/24 } accept", "ip6 saddr { 2001:db8:6:1::/64 } accept"]
    assert rules["rules[1]"][1] == (f"ip6 saddr {{ 2001:db8:6:2::/64 }} ip6 daddr {{ {web6}/128 }} "
                                    "tcp dport 80 accept")
    assert rules["rules[2]"] == [f"ip6 saddr {{ 2001:db8:6:2::/64 }} ip6 daddr {{ {web6}/128 }} "
                                 "meta l4proto 58 accept"]                       # family 6 only
    assert [r.split(" ip6 daddr")[0] for r in rules["rules[3]"]] == ["ip6 saddr { 2001:db8:99::/64 }"] * 2
    assert rules["rules[4]"] == ["ip saddr { 10.9.0.0/16 } meta l4proto udp accept"]   # an IPv4 subnet: IPv4 only
    assert rules["rules[5]"] == ["tcp dport 22 drop"]                           # no address: one line, both
    web = files["web"][NFT_RULESET]
    assert "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept" \
        in web                                    # a drop policy must still let neighbour discovery in
    assert "ip protocol icmp accept" in web and "meta l4proto 58 accept" in web
