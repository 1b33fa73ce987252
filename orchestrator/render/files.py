"""Rendering: Plan -> the files each node needs, from Jinja2 templates.

The result maps node name -> {path inside the node: content}. `lab render`
writes the same files to a folder so a person can read them before deploy.
Paths and formats are the node contract's (orchestrator.contract).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jinja2

from .. import PROJECT_ROOT, contract
from ..contract import NodeFiles
from ..plan import Plan, PlanNode

TEMPLATE_DIR = PROJECT_ROOT / "templates"
_NODE_FILE_LEAVES_OUT = {"interfaces": {"__all__": {"link"}}}


@functools.lru_cache(maxsize=8)
def environment(template_dir: Path = TEMPLATE_DIR) -> jinja2.Environment:
    """One per template folder, kept: it holds the compiled templates (compiling
    them is most of a small lab's rendering) and may be shared by threads."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


class Renderer:
    """Renders the nodes of one plan; what every node shares is computed once."""

    def __init__(self, plan: Plan, env: jinja2.Environment | None = None):
        self.plan = plan
        env = env or environment()
        self.setup = env.get_template("node/setup.sh.j2")
        self.hosts = env.get_template("node/hosts.j2")
        self.nft = env.get_template("node/nftables.nft.j2")
        self.shared = {"plan": plan, "hosts_entries": plan.hosts_entries(), "paths": contract}
        self._router_names: str | None = None
        self.resolv = resolv_conf(plan)

    def router_names(self) -> str:
        """The names of the lab's dynamic routers by router id and by address,
        one document every such router gets (so `lab routes` can say r2, not
        10.255.0.2); made once per plan."""
        if self._router_names is None:
            names: dict[str, str] = {}
            for other in self.plan.nodes.values():
                if other.daemon is None:
                    continue
                names[other.daemon.router_id] = other.name
                for address in other.addresses():
                    names.setdefault(address.split("/")[0], other.name)
            self._router_names = contract.dump(names)
        return self._router_names

    def node(self, node: PlanNode) -> NodeFiles:
        ctx = {**self.shared, "node": node}
        files = {
            contract.SETUP_SCRIPT: self.setup.render(ctx),
            contract.HOSTS_FILE: self.hosts.render(ctx),
            contract.RESOLV_FILE: self.resolv,
            # the node's own part of the plan; the links' numbers left out: they are
            # places in the plan's list, and shift when another link is added before
            contract.NODE_FILE: json.dumps(node.model_dump(exclude=_NODE_FILE_LEAVES_OUT), indent=2) + "\n",
        }
        if node.services:
            files[contract.SERVICES_CONFIG] = contract.dump(contract.services_document(node.services))
        if node.daemon is not None:
            files[contract.ROUTING_CONFIG] = contract.dump(contract.routing_document(node.daemon))
            files[contract.ROUTER_NAMES] = self.router_names()
        if node.dns is not None:
            files[contract.DNS_CONFIG] = contract.dump(node.dns)
        if node.dhcp is not None:
            files[contract.DHCP_CONFIG] = contract.dump(node.dhcp)
        if node.dhcp_relay is not None:
            files[contract.DHCP_RELAY_CONFIG] = contract.dump(node.dhcp_relay)
        if node.stack is not None:
            files[contract.STACK_CONFIG] = contract.dump(contract.stack_document(node.stack))
        if node.nat or node.firewall:
            files[contract.NFT_RULESET] = self.nft.render(ctx)
        return files


def resolv_conf(plan: Plan) -> str:
    """/etc/resolv.conf of every node: the lab's resolver (compile/dns.py), or no server at all,
    so that nothing in a lab asks a server outside it."""
    if plan.resolver is None:
        return ("# resolv.conf of a labnet node: this lab runs no DNS resolver (a dns service with\n"
                "# recursion: true), so no server is named and no name leaves the lab.\n")
    name = plan.owners().get(plan.resolver, ("", ""))[0]
    return (f"# resolv.conf of a labnet node: the lab's resolver{f' ({name})' if name else ''}\n"
            f"nameserver {plan.resolver}\noptions timeout:1 attempts:2\n")


def render_plan(plan: Plan) -> dict[str, NodeFiles]:
    renderer = Renderer(plan)
    return {name: renderer.node(node) for name, node in plan.nodes.items()}


def write_rendered(files: dict[str, NodeFiles], out_dir: Path) -> list[Path]:
    """Write rendered files under out_dir/<node>/<path inside node>."""
    written = []
    for node, node_files in files.items():
        for inner, content in node_files.items():
            target = out_dir / node / inner.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            written.append(target)
    return written
