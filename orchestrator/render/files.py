"""Rendering: Plan -> the files each node needs, from Jinja2 templates.

The result maps node name -> {path inside the node: content}. `lab render`
writes the same files to a folder so a person can read them before deploy.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from . import PROJECT_ROOT
from .plan import ROUTING_CONFIG, Plan, PlanNode

TEMPLATE_DIR = PROJECT_ROOT / "templates"
CONFIG_DIR = "/etc/labnet"
SETUP_SCRIPT = f"{CONFIG_DIR}/setup.sh"
SERVICES_CONFIG = f"{CONFIG_DIR}/services.json"
NFT_RULESET = f"{CONFIG_DIR}/nftables.nft"
SERVICE_LOG_DIR = "/var/log/labnet"

NodeFiles = dict[str, str]


def environment(template_dir: Path = TEMPLATE_DIR) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_node(plan: Plan, node: PlanNode, env: jinja2.Environment | None = None) -> NodeFiles:
    env = env or environment()
    ctx = {"plan": plan, "node": node}
    files = {
        SETUP_SCRIPT: env.get_template("node/setup.sh.j2").render(ctx),
        f"{CONFIG_DIR}/hosts": env.get_template("node/hosts.j2").render(ctx),
        f"{CONFIG_DIR}/node.json": json.dumps(node.model_dump(), indent=2) + "\n",
    }
    if node.services:
        files[SERVICES_CONFIG] = services_config(node)
    if node.daemon is not None:
        files[ROUTING_CONFIG] = routing_config(node)
    if node.nat or node.firewall:
        files[NFT_RULESET] = env.get_template("node/nftables.nft.j2").render(ctx)
    return files


def routing_config(node: PlanNode) -> str:
    """The link-state daemon's config (format: images/node/labnode/routing/config.py)."""
    assert node.daemon is not None
    return json.dumps(node.daemon.model_dump(), indent=2) + "\n"


def services_config(node: PlanNode) -> str:
    """The supervisor's config (format: images/node/labnode/svconfig.py)."""
    entries = []
    for svc in node.services:
        entry: dict = {"name": svc.name, "type": svc.type}
        if svc.command:
            entry["command"] = svc.command
        else:
            entry["args"] = svc.args
        entries.append(entry)
    return json.dumps({"services": entries}, indent=2) + "\n"


def render_plan(plan: Plan) -> dict[str, NodeFiles]:
    env = environment()
    return {name: render_node(plan, node, env) for name, node in plan.nodes.items()}


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
