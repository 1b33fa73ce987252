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
