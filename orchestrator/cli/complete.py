"""Shell completion of the names of deployed labs and of their nodes.

Click completes the command line when the shell sets `_LAB_COMPLETE`
(docs/operating.md shows how to enable it in bash, zsh and fish); the
functions here are the `shell_complete=` of the NAME and NODE arguments:

    @click.argument("name", shell_complete=complete.lab_names)
    @click.argument("node", shell_complete=complete.node_names)

A completion runs on every TAB, so it makes one read-only listing on the
engine's socket (backend/engineapi: standard library, no SDK, a short
timeout), and it never fails loudly: when anything goes wrong (no engine, no
permission, DOCKER_HOST elsewhere) it completes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click
    from click.shell_completion import CompletionItem

#: a completion waits at most this long for the engine
TIMEOUT_S = 2.0


def _listed(labels: list[str]) -> list[dict[str, Any]]:
    """Our containers carrying these labels too, as the engine lists them ([] when it does not answer)."""
    from .. import PROJECT
    from ..backend.engineapi import EngineAPI, socket_path
    from ..labels import LABEL_PROJECT
    path = socket_path()
    if path is None:
        return []
    return EngineAPI(path, timeout=TIMEOUT_S).containers([f"{LABEL_PROJECT}={PROJECT}", *labels])


def _netns_root() -> Path:
    from ..labels import NETNS_STATE_ROOT
    return Path(NETNS_STATE_ROOT)


def deployed_labs() -> list[str]:
    """The names of the labs on the engine (those with only a record too) and
    on the netns backend (its state folders)."""
    from ..labels import LABEL_LAB
    names = {p.name for p in _netns_root().glob("*") if p.is_dir()}
    try:
        names |= {lab for c in _listed([LABEL_LAB]) if (lab := (c.get("Labels") or {}).get(LABEL_LAB))}
    except Exception:   # no engine: the netns labs alone
        pass
    return sorted(names)


def lab_nodes(lab: str) -> dict[str, str]:
    """node -> its kind, for the nodes of a deployed lab."""
    from ..labels import LABEL_KIND, LABEL_LAB, LABEL_NODE
    netns = _netns_root() / lab / "nodes"
    if netns.is_dir():
        return {p.name: "" for p in sorted(netns.iterdir()) if p.is_dir()}
    out = {}
    for c in _listed([f"{LABEL_LAB}={lab}", LABEL_NODE]):
        labels = c.get("Labels") or {}
        if labels.get(LABEL_NODE):
            out[labels[LABEL_NODE]] = labels.get(LABEL_KIND, "")
    return dict(sorted(out.items()))


def _items(names: dict[str, str], incomplete: str, prefix: str = "") -> list[CompletionItem]:
    from click.shell_completion import CompletionItem
    return [CompletionItem(prefix + name, help=help or None) for name, help in names.items()
            if name.startswith(incomplete)]


def _lab_of(ctx: click.Context) -> str | None:
    """The lab named earlier on the command line (its NAME argument; while an
    option's value is being completed click leaves the arguments unparsed)."""
    name = ctx.params.get("name")
    if not isinstance(name, str) or not name:
        name = next((a for a in ctx.args if not a.startswith("-")), None)
    if not name:
        return None
    if "/" in name or name.endswith((".yml", ".yaml")):   # a lab folder or file: its name is in it
        try:
            from ..lab import resolve_lab_name
            return resolve_lab_name(name)
        except Exception:
            return None
    return name


def lab_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The deployed labs whose names start with what is typed."""
    try:
        return _items(dict.fromkeys(deployed_labs(), ""), incomplete)
    except Exception:   # completion never fails loudly
        return []


def node_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The nodes of the lab named before (NAME) whose names start with what is typed
    (nothing where the nodes were chosen already: `lab exec NAME --all CMD`)."""
    if any(ctx.params.get(p) for p in ("all_nodes", "kind", "nodes")):
        return []
    try:
        lab = _lab_of(ctx)
        return _items(lab_nodes(lab), incomplete) if lab else []
    except Exception:
        return []


def node_lists(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`--nodes r1,r2,...`: the next node of a comma-separated list."""
    try:
        lab = _lab_of(ctx)
        if not lab:
            return []
        done, _, last = incomplete.rpartition(",")
        taken = set(done.split(",")) if done else set()
        nodes = {n: k for n, k in lab_nodes(lab).items() if n not in taken}
        return _items(nodes, last, done + "," if done else "")
    except Exception:
        return []
