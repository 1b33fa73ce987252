"""Reconcile: a running lab changed in place to match its edited lab file.

`lab deploy PATH` on a running lab (without --force) lands here. From the
stored plan and the new one (orchestrator.diff) it
- removes the nodes that are gone, and makes again those whose container
  cannot change in place (kind, image, sysctls, limits); their links go with them;
- creates the new nodes and links, and deletes the links that are gone;
- re-applies the configuration of the nodes whose rendered files differ:
  addresses and routes no longer planned are deleted, the setup script runs
  again (it changes nothing that is already as planned: no link flaps),
  the supervisor is restarted only where services.json or routing.json
  changed, a served folder is copied again only where it changed;
- runs the setup of nodes whose link ends were re-created;
- applies, changes or clears link impairments;
- stores the new plan.
Nodes nothing touches keep their containers, processes and packets.

Every step acts on what is there, not on what was planned before, so a
reconcile that stopped half-way is finished by running `lab deploy` again
(until then the record says "reconciling", and `lab status` says so). A node
of the running lab that is stopped or gone is refused: `lab repair` first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from . import contract
from .backend.parallel import WORKERS
from .diff import NodeChange, PlanDiff, link_key, plan_diff
from .errors import BackendError, LabStateError
from .progress import Event, Progress
from .record import digests_of, make_record, sources_of

if TYPE_CHECKING:
    from .contract import NodeFiles
    from .lab import Running
    from .plan import Plan, PlanLink, PlanNode

#: files whose change needs the supervisor (and so every service of the node) restarted
_SERVICE_FILES = (contract.SERVICES_CONFIG, contract.ROUTING_CONFIG, contract.DNS_CONFIG, contract.DHCP_CONFIG,
                  contract.DHCP_RELAY_CONFIG, contract.STACK_CONFIG)


def reconcile(running: Running, plan: Plan, files: dict[str, NodeFiles], *, dry_run: bool = False,
              progress: Progress, timings: dict[str, float] | None = None) -> PlanDiff:
    """Change the running lab into `plan` (rendered as `files`); the changes made."""
    from .render.files import render_plan
    timings = {} if timings is None else timings
    old, backend, lab = running.plan, running.backend, running.lab
    deployed = running.record.files if running.record else digests_of(render_plan(old))
    diff = plan_diff(old, plan, deployed, files)
    folders = _changed_folders(running, plan)
    for node, _ in folders:
        diff.changed.setdefault(node, NodeChange(node))
    if dry_run or not diff:
        return diff
    states = {st.node: st for st in backend.nodes(lab)}
    down = sorted(n for n in old.nodes if n not in diff.removed and (n not in states or not states[n].running))
    if down:
        raise LabStateError(f"lab {lab}: {', '.join(down)} {'is' if len(down) == 1 else 'are'} not running; "
                            f"run 'lab repair {lab}' first, or redeploy it all with 'lab deploy --force'")

    def step(name: str, fn: Callable[[], None]) -> None:
        t = time.perf_counter()
        fn()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t

    resuming = running.record is not None and running.record.state == "reconciling"
    record = running.record or make_record(old, render_plan(old), "up")
    recreate = sorted(n for n, c in diff.changed.items() if c.recreate)
    new_nodes = [*diff.added, *recreate]
    served = {node: dest for node, dest in folders}
    # nodes whose names are all that change: rewritten with the others, in one exec each
    quiet = [n for n in diff.names_only() if n not in served]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        marked = pool.submit(backend.save_record, lab, replace(record, state="reconciling").encode())

        gone = [*diff.removed, *recreate]
        if gone:
            progress(Event("reconcile", f"removing {', '.join(gone)}"))
            step("remove", lambda: backend.remove_nodes(lab, gone, progress))
        missing = [n for n in new_nodes if n in recreate or n not in states]  # a stopped reconcile may have made some
        if missing:
            backend.ensure_images(progress)
            step("create", lambda: backend.create_nodes(plan, progress, missing))
        marked.result()   # the record says "reconciling" before any link changes

        # links: the gone ones deleted, the new ones (and all of re-made nodes) made. What
        # is there is read from the nodes whose links change (from every node when the
        # last reconcile stopped half-way: any link may be missing then)
        if resuming:
            ends = set(plan.nodes) - set(diff.removed)
        else:
            ends = {e.node for lk in [*diff.links_added, *diff.links_removed] for e in (lk.a, lk.b)}
            ends |= {e.node for lk in plan.links for e in (lk.a, lk.b) if {lk.a.node, lk.b.node} & set(new_nodes)}
            ends -= set(diff.removed)
        present = {n: {i.name for i in backend.interfaces(lab, n)} for n in sorted(ends)}
        for link in diff.links_removed:
            for end in (link.a, link.b):
                if end.node in present and end.iface in present[end.node]:
                    backend.remove_link_end(lab, end.node, end.iface)
                    present[end.node].discard(end.iface)
        to_make = _links_to_make(plan, diff, set(new_nodes), present)
        for link in to_make:   # a dangling end of an earlier pair is in the way
            for end in (link.a, link.b):
                if end.iface in present.get(end.node, set()):
                    backend.remove_link_end(lab, end.node, end.iface)
        if to_make:
            step("wire", lambda: backend.wire_links(plan, progress, to_make))

        # configuration, at once: the nodes that stay (their setup brings up their ends
        # of the new links) and the new ones (whose configure waits for those links)
        touched = {e.node for lk in to_make for e in (lk.a, lk.b)} - set(new_nodes)
        again = sorted((set(diff.changed) - set(recreate) - set(quiet)) | touched)
        t = time.perf_counter()
        later = [pool.submit(_reapply, running, plan, files, n, diff, served.get(n), n in touched) for n in again]
        if new_nodes:
            later.append(pool.submit(backend.configure, plan, files, progress, new_nodes))
        later += [pool.submit(_reapply, running, plan, files, n, diff, None, False) for n in quiet]
        for fut in later:
            fut.result()
        timings["configure"] = time.perf_counter() - t
    progress(Event("reconcile", f"re-configured {len(again) + len(quiet)} nodes"))
    if touched:
        step("links up", lambda: backend.wait_links(plan, sorted(touched)))
    _impairments(running, plan, diff, to_make)

    backend.save_record(lab, make_record(plan, files, "up").encode())
    return diff


def _changed_folders(running: Running, plan: Plan) -> list[tuple[str, str]]:
    """(node, folder in the node) of served folders whose content is not what was copied."""
    stored = running.record.sources if running.record else {}
    now = sources_of(plan)
    out = []
    for name, node in plan.nodes.items():
        for files_from, files_to in node.folders():
            if files_from not in stored or stored[files_from] != now.get(files_from):
                if name in running.plan.nodes:
                    out.append((name, files_to))
    return out


def _links_to_make(plan: Plan, diff: PlanDiff, new_nodes: set[str], present: dict[str, set[str]]) -> list[PlanLink]:
    """The links of the new plan that must be made: added ones, those of nodes made
    again, and any whose ends were looked at and are not both there (a reconcile
    that stopped half-way)."""
    added = {link_key(lk) for lk in diff.links_added}
    out = []
    for link in plan.links:
        ends = (link.a, link.b)
        if (link_key(link) in added or any(e.node in new_nodes for e in ends)
                or any(e.node in present and e.iface not in present[e.node] for e in ends)):
            out.append(link)
    return out


def _reapply(running: Running, plan: Plan, files: dict[str, NodeFiles], node: str, diff: PlanDiff,
             folder: str | None, setup: bool) -> None:
    backend, lab = running.backend, running.lab
    change = diff.changed.get(node)
    paths = set(change.files) if change else set()
    if paths:
        backend.put_files(lab, node, {p: files[node][p] for p in paths if p in files[node]})
    stale = _stale(running.plan.nodes[node], plan.nodes[node])
    if contract.NFT_RULESET in paths and contract.NFT_RULESET not in files[node]:
        stale.append("nft flush ruleset")   # the node has no firewall or NAT any more
    if stale:
        _run(running, node, ["sh", "-c", "\n".join(f"{line} 2>/dev/null || true" for line in stale)])
    if setup or paths & {contract.SETUP_SCRIPT, contract.NFT_RULESET}:
        _run(running, node, ["sh", contract.SETUP_SCRIPT])
    if folder is not None:
        files_from = next(f for f, to in plan.nodes[node].folders() if to == folder)
        backend.put_folder(lab, node, files_from, folder)
    if paths & set(_SERVICE_FILES) or (contract.SERVICES_CONFIG in files[node]) != bool(
            running.plan.nodes[node].services):
        backend.restart_services(plan, [node])


def _stale(old: PlanNode, new: PlanNode) -> list[str]:
    """Commands that delete what the old plan gave a node and the new one does not."""
    now = {(i.name, i.address) for i in new.interfaces if i.address and not i.dhcp}
    out = [f"ip addr del {i.address} dev {i.name}" for i in old.interfaces   # one leased is the DHCP client's
           if i.address and not i.dhcp and (i.name, i.address) not in now and new.interface(i.name) is not None]
    routes_now = {(r.to, r.via) for r in new.routes} | {(to, g.via) for g in new.computed_routes for to in g.to}
    old_routes = [(r.to, r.via) for r in old.routes] + [(to, g.via) for g in old.computed_routes for to in g.to]
    out += [f"ip route del {'0.0.0.0/0' if to == 'default' else to} via {via}"
            for to, via in old_routes if (to, via) not in routes_now]
    return out


def _run(running: Running, node: str, argv: list[str]) -> None:
    res = running.backend.exec(running.lab, node, argv)
    if not res.ok:
        raise BackendError(f"re-configuring {node}: {' '.join(argv[:2])} failed (exit {res.exit_code}): "
                           f"{(res.stdout + res.stderr).strip()}")


def _impairments(running: Running, plan: Plan, diff: PlanDiff, made: list[PlanLink]) -> None:
    backend, lab = running.backend, running.lab
    fresh = {link_key(lk) for lk in made}
    for link in [*diff.links_changed, *made]:
        for end in (link.a, link.b):
            if link.impair is not None:
                backend.impair(lab, end.node, end.iface, link.impair)
            elif link_key(link) not in fresh:
                backend.clear_impairment(lab, end.node, end.iface)
