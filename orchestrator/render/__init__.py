"""Render: a Plan turned into text for nodes and people.

    files   the files each node gets (setup script, hosts, services, rules), from templates/
    graph   the lab drawn: Graphviz dot / SVG, or Mermaid, with live link states
"""
