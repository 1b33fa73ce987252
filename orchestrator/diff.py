"""What a redeploy would change: the deployed plan against a newly compiled one.

Nodes are matched by name, links by their two ends (node:interface). A node
whose container cannot be changed in place (its kind, image, sysctls or limits, set
when the container is created) is made again; any other node differs by the
files rendered into it (digests: the record keeps those of the deployed
files). Pure: no engine, no printing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from . import contract
from .contract import NodeFiles
from .digest import text_digest
from .plan import Plan, PlanLink, PlanNode

#: what a container is created with and cannot change afterwards
_CREATED_WITH = ("kind", "image", "sysctls", "hostname", "limits")


def link_key(link: PlanLink) -> frozenset[str]:
    return frozenset((str(link.a), str(link.b)))


@dataclass
class NodeChange:
    node: str
    files: list[str] = field(default_factory=list)     # paths inside the node whose content differs
    recreate: str = ""                                   # why the container is made again ("" : it is not)


@dataclass
class PlanDiff:
    added: list[str] = field(default_factory=list)       # nodes
    removed: list[str] = field(default_factory=list)
    changed: dict[str, NodeChange] = field(default_factory=dict)
    links_added: list[PlanLink] = field(default_factory=list)
    links_removed: list[PlanLink] = field(default_factory=list)
    links_changed: list[PlanLink] = field(default_factory=list)   # same ends, another impairment (new plan's)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.links_added or self.links_removed
                    or self.links_changed)

    def names_only(self) -> list[str]:
        """The changed nodes whose only changes are the lab's names in /etc/hosts and the
        node's own description (node.json): what another node's coming or going does."""
        quiet = {contract.HOSTS_FILE, contract.NODE_FILE}
        return [n for n, c in self.changed.items() if c.files and set(c.files) <= quiet and not c.recreate]

    def summary(self) -> str:
        """'1 node added, 2 nodes changed, 1 link removed, /etc/hosts of 4 more nodes' (or 'no change')."""
        parts = []
        hosts = len(self.names_only())
        for count, what in ((len(self.added), "node added"), (len(self.removed), "node removed"),
                            (len(self.changed) - hosts, "node changed"), (len(self.links_added), "link added"),
                            (len(self.links_removed), "link removed"), (len(self.links_changed), "link changed")):
            if count:
                noun, verb = what.split(" ")
                parts.append(f"{count} {noun}{'s' if count > 1 else ''} {verb}")
        if hosts:
            parts.append(f"/etc/hosts of {hosts} more node{'s' if hosts > 1 else ''}")
        return ", ".join(parts) or "no change"

    def as_dict(self) -> dict[str, object]:
        return {"added": self.added, "removed": self.removed,
                "changed": {n: {"files": c.files, "recreate": c.recreate or None} for n, c in self.changed.items()},
                "links_added": [f"{lk.a} -- {lk.b}" for lk in self.links_added],
                "links_removed": [f"{lk.a} -- {lk.b}" for lk in self.links_removed],
                "links_changed": [f"{lk.a} -- {lk.b}" for lk in self.links_changed]}


def _recreate_reason(old: PlanNode, new: PlanNode) -> str:
    for name in _CREATED_WITH:
        if getattr(old, name) != getattr(new, name):
            return f"its {name} changed ({getattr(old, name)} -> {getattr(new, name)})"
    return ""


def plan_diff(old: Plan, new: Plan, old_files: dict[str, dict[str, str]],
              new_files: dict[str, NodeFiles]) -> PlanDiff:
    """old_files: node -> {path: digest} of what was deployed; new_files: what the new plan renders."""
    out = PlanDiff()
    out.added = [n for n in new.nodes if n not in old.nodes]
    out.removed = [n for n in old.nodes if n not in new.nodes]
    for name, node in new.nodes.items():
        if name not in old.nodes:
            continue
        change = NodeChange(name, recreate=_recreate_reason(old.nodes[name], node))
        was = old_files.get(name, {})
        now = {path: text_digest(text) for path, text in new_files.get(name, {}).items()}
        change.files = sorted(p for p in set(was) | set(now) if was.get(p) != now.get(p))
        if change.files or change.recreate:
            out.changed[name] = change
    old_links = {link_key(lk): lk for lk in old.links}
    new_links = {link_key(lk): lk for lk in new.links}
    out.links_added = [lk for key, lk in new_links.items() if key not in old_links]
    out.links_removed = [lk for key, lk in old_links.items() if key not in new_links]
    out.links_changed = [lk for key, lk in new_links.items() if key in old_links and old_links[key].impair != lk.impair]
    return out


def text_diff(old_files: dict[str, NodeFiles], new_files: dict[str, NodeFiles], diff: PlanDiff) -> str:
    """The changed nodes' files as a unified diff (old: the deployed plan rendered again)."""
    chunks = []
    for node in [*diff.added, *diff.removed, *diff.changed]:
        before, after = old_files.get(node, {}), new_files.get(node, {})
        paths = sorted(set(before) | set(after)) if node not in diff.changed else diff.changed[node].files
        for path in paths:
            a, b = before.get(path, ""), after.get(path, "")
            lines = list(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                              f"deployed/{node}{path}" if a else "/dev/null",
                                              f"file/{node}{path}" if b else "/dev/null"))
            if lines:
                chunks.append("".join(line if line.endswith("\n") else line + "\n" for line in lines))
            elif a == b and node in diff.changed:
                chunks.append(f"# {node}{path}: deployed by another version of labnet (same text rendered now)\n")
    return "".join(chunks)
