"""Drawing a lab: dot source, Mermaid text and (if Graphviz is installed) SVG."""

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from orchestrator.lab import plan_lab
from orchestrator.render import graph
from tests.conftest import LABS


@pytest.fixture(scope="module")
def plan():
    return plan_lab(LABS / "five-subnets")[0]


def test_dot_has_every_node_shaped_by_kind(plan):
    dot = graph.to_dot(plan)
    for name, node in plan.nodes.items():
        line = next(ln for ln in dot.splitlines() if ln.strip().startswith(f'"{name}" ['))
        shape = {"host": "shape=box", "router": "shape=circle", "switch": "height=0.3"}[node.kind]
        assert shape in line, line
    assert '"s1" [label="s1  192.168.1.0/24"' in dot  # a switch is drawn as its LAN segment
    assert "{ rank=same; \"r1\" \"r2\" \"r3\" }" in dot


def test_dot_labels_links_with_interfaces_and_addresses(plan):
    dot = graph.to_dot(plan)
    edges = [ln for ln in dot.splitlines() if " -- " in ln]
    assert len(edges) == len(plan.links) == 11
    r1r2 = next(e for e in edges if e.strip().startswith('"r1" -- "r2"'))
    assert 'taillabel="eth1\\n10.0.12.1/30"' in r1r2 and 'headlabel="eth1\\n10.0.12.2/30"' in r1r2
    # hosts are drawn above their switch, switches above their router
    assert any(e.strip().startswith('"pc1" -- "s1"') for e in edges)
    assert any(e.strip().startswith('"s1" -- "r1"') for e in edges)
    assert "dashed" not in dot


def test_down_link_and_impairment_are_drawn(plan):
    overlay = graph.Overlay(states={("r2", "eth2"): "down"}, impairments={("r1", "eth1"): "rate 1mbit"})
    dot = graph.to_dot(plan, overlay)
    r2r3 = next(ln for ln in dot.splitlines() if ln.strip().startswith('"r2" -- "r3"'))
    assert "style=dashed" in r2r3 and "#d62728" in r2r3 and 'label="DOWN"' in r2r3
    r1r2 = next(ln for ln in dot.splitlines() if ln.strip().startswith('"r1" -- "r2"'))
    assert 'label="rate 1mbit"' in r1r2 and "dashed" not in r1r2
    mermaid = graph.to_mermaid(plan, overlay)
    assert 'n_r2 -.-|"eth2<br/>10.0.23.1/30 — eth1<br/>10.0.23.2/30<br/>DOWN"| n_r3' in mermaid
    assert "linkStyle 10 stroke:#d62728" in mermaid


def test_mermaid(plan):
    text = graph.to_mermaid(plan)
    assert text.startswith("flowchart TB\n")
    assert '  n_r1(("r1"))' in text
    assert '  n_s2[["s2<br/>192.168.2.0/24"]]' in text
    assert '  n_pc1["pc1"]' in text
    assert '  n_pc1 ---|"eth0<br/>192.168.1.10/24 — eth0"| n_s1' in text
    assert len(re.findall(r" (---|-\.-)\|", text)) == 11
    assert "class n_pc1,n_pc2,n_pc3,n_pc4,n_pc5,n_pc6 host" in text


def test_names_are_quoted_and_sanitised():
    assert graph._q('a"b\nc') == '"a\\"b\\nc"'
    assert graph._mid("web-1.x") == "n_web_1_x"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_is_xml_with_every_node(plan):
    svg = graph.render_svg(graph.to_dot(plan))
    root = ET.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = {t.text for g in root.iterfind(".//svg:g[@class='node']", ns) for t in g.iterfind("svg:title", ns)}
    assert titles == set(plan.nodes)
    assert len(root.findall(".//svg:g[@class='edge']", ns)) == 11


def test_no_graphviz_is_a_clear_error(plan, monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(graph.GraphError, match="apt-get install graphviz"):
        graph.render_svg(graph.to_dot(plan))


@pytest.fixture(scope="module")
def mesh():
    return plan_lab(LABS / "dijkstra-mesh")[0]


@pytest.fixture(scope="module")
def nat():
    return plan_lab(LABS / "home-nat")[0]


def test_busy_nodes_get_short_end_labels_and_the_subnet_on_the_cable(mesh):
    assert len(mesh.nodes["r1"].interfaces) >= graph.BUSY_NODE
    assert graph.host_part("10.0.12.1/30") == ".1" and graph.host_part("172.16.3.5/16") == ".3.5"
    dot = graph.to_dot(mesh)
    r1r2 = next(ln for ln in dot.splitlines() if ln.strip().startswith('"r1" -- "r2"'))
    r1_end = next(i for i in mesh.nodes["r1"].interfaces if i.peer.startswith("r2:"))
    assert r1_end.address == "10.0.0.1/30"
    assert f'taillabel="{r1_end.name} .1"' in r1r2 and 'label="10.0.0.0/30"' in r1r2


def test_a_cost_other_than_the_default_is_written_on_the_cable(mesh):
    dot = graph.to_dot(mesh)
    costed = [ln for ln in dot.splitlines() if " -- " in ln and "cost " in ln]
    expected = {i.cost for n in mesh.nodes.values() for i in n.interfaces} - {10}
    assert {int(re.search(r"cost (\d+)", ln).group(1)) for ln in costed} == expected
    assert "cost 30" in graph.to_mermaid(mesh)


def test_services_nat_and_firewall_are_written_under_the_name(nat):
    dot = graph.to_dot(nat)
    gw = next(ln for ln in dot.splitlines() if ln.strip().startswith('"gw" ['))
    assert 'label="gw\\nNAT firewall"' in gw
    web = next(ln for ln in dot.splitlines() if ln.strip().startswith('"web" ['))
    assert 'label="web\\nhttp:80"' in web
    assert graph.roles(plan_lab(LABS / "dijkstra-mesh")[0].nodes["r1"]) == ["routed"]


def test_drawio_is_mxgraph_xml_with_every_node_and_cable(plan):
    root = ET.fromstring(graph.to_drawio(plan))
    assert root.tag == "mxfile" and root.find("diagram").get("name") == "five-subnets"
    cells = root.findall("./diagram/mxGraphModel/root/mxCell")
    nodes = [c for c in cells if c.get("vertex") == "1" and c.get("parent") == "1"]
    edges = [c for c in cells if c.get("edge") == "1"]
    assert sorted(c.get("value").split("<br>")[0] for c in nodes) == sorted(plan.nodes)
    assert len(edges) == len(plan.links) == 11
    ids = {c.get("id"): c.get("value") for c in nodes}
    r1r2 = next(e for e in edges if {ids[e.get("source")], ids[e.get("target")]} == {"r1", "r2"})
    ends = [c.get("value") for c in cells if c.get("parent") == r1r2.get("id")]
    assert sorted(ends) == ["eth1<br>10.0.12.1/30", "eth1<br>10.0.12.2/30"]


def test_drawio_shows_a_down_link(plan):
    overlay = graph.Overlay(states={("r2", "eth2"): "down"})
    root = ET.fromstring(graph.draw(plan, overlay, "drawio"))
    down = [c for c in root.iter("mxCell") if c.get("edge") == "1" and "dashed=1" in c.get("style")]
    assert [c.get("value") for c in down] == ["DOWN"]


def test_an_unknown_format_is_a_clear_error(plan):
    with pytest.raises(graph.GraphError, match="unknown graph format 'png' .*drawio"):
        graph.draw(plan, None, "png")
