"""The first checks: names, kinds, interface names, services, link ends.

Input is what `orchestrator.model.load` could parse (nodes that did not parse
are known by name in `broken`, so what refers to them causes no second,
confusing error).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from .. import confine
from ..labels import NAME_RE
from ..model.load import ParsedLab
from ..model.topology import IFNAME_MAX, IFNAME_RE, NodeSpec
from .problems import Problems, name_hint

NAME_HINT = "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 32 characters"
BRIDGE_NAME = "br0"
SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def iface_problem(name: str) -> tuple[str, str] | None:
    """(message, hint) when `name` cannot be a Linux interface name of a link."""
    if name == "lo":
        return ("'lo' is the node's loopback interface, not a link's", "name link interfaces eth0, eth1, ...")
    if len(name) > IFNAME_MAX:
        return (f"interface name '{name}' is {len(name)} characters; Linux allows at most {IFNAME_MAX}",
                f"shorten it, e.g. '{name[:IFNAME_MAX]}'")
    if not IFNAME_RE.match(name):
        return (f"'{name}' is not a usable interface name",
                "use letters, digits, '-', '_' or '.', starting with a letter or digit")
    if name == "lo":
        return ("'lo' is the loopback interface and cannot be linked", "use eth0, eth1, ...")
    return None


def _check_services(where: str, spec: NodeSpec, out: Problems) -> None:
    if spec.services and spec.kind == "switch":
        out.error(f"{where}.services", "a switch runs no services", "put services on a host or router")
        return
    names: dict[str, int] = {}
    ports: dict[tuple[str, int], int] = {}
    for k, svc in enumerate(spec.services):
        name = svc.effective_name
        if not SERVICE_NAME_RE.match(name):
            out.error(f"{where}.services[{k}].name", f"'{name}' is not a usable service name",
                      "use letters, digits, '-', '_' or '.' (it names the log file)")
        if name in names:
            out.error(f"{where}.services[{k}]", f"a service named '{name}' is already services[{names[name]}]",
                      "give one of them another 'name'")
        names.setdefault(name, k)
        port = svc.effective_port
        if port is not None:
            proto = "udp" if svc.type == "udp-echo" else "tcp"
            if (proto, port) in ports:
                out.error(f"{where}.services[{k}].port", f"{proto} port {port} is already used by "
                          f"services[{ports[(proto, port)]}]", "give one of them another 'port'")
            ports.setdefault((proto, port), k)


def check_nodes(lab: ParsedLab, out: Problems) -> None:
    """The lab's name, every node on its own, and every link end and LAN member."""
    nodes, broken = lab.nodes, lab.broken
    if "name" not in lab.unread.sections and (not lab.name or not NAME_RE.match(lab.name)):
        out.error("name", f"'{lab.name}' is not a valid lab name", NAME_HINT)
    if not nodes and not broken:
        out.error("nodes", "the lab has no nodes", "add at least two nodes and a link between them")

    macs: dict[str, str] = {}
    for node, spec in nodes.items():
        where = f"nodes.{node}"
        for iface, ispec in spec.interfaces.items():
            if ispec.mac is None:
                continue
            here = f"{where}.interfaces.{iface}.mac"
            if ispec.mac in macs:
                out.error(here, f"MAC {ispec.mac} is also {macs[ispec.mac]}'s",
                          "every interface needs its own MAC; leave 'mac' out to have one made")
            macs.setdefault(ispec.mac, f"{node}.{iface}")
        if not NAME_RE.match(node):
            out.error(where, f"'{node}' is not a valid node name (it becomes the hostname and part of a "
                      "container name)", NAME_HINT)
        for iface, ispec in spec.interfaces.items():
            bad = iface_problem(iface)
            if bad:
                out.error(f"{where}.interfaces.{iface}", *bad)
            if spec.kind == "switch" and iface == BRIDGE_NAME:
                out.error(f"{where}.interfaces.{iface}", f"'{BRIDGE_NAME}' is the switch's own bridge",
                          "name switch ports eth0, eth1, ...")
            if spec.kind == "switch" and ispec.address is not None:
                out.error(f"{where}.interfaces.{iface}.address", "a switch port has no IP address",
                          "switches work at layer 2; put the address on a host or router interface")
            if ispec.dhcp and spec.kind != "host":
                out.error(f"{where}.interfaces.{iface}", f"only a host's interface takes its address by DHCP, "
                          f"not a {spec.kind}'s", "write an address: routers and switches are what clients find")
            if ispec.dhcp and spec.stack is not None:
                out.error(f"{where}.interfaces.{iface}", "a host on the user-space stack cannot ask for its "
                          "address by DHCP (the stack has no DHCP client)", "write its address")
        if any(i.dhcp for i in spec.interfaces.values()) and spec.gateway is not None:
            out.error(f"{where}.gateway", "a host that takes its address by DHCP takes its gateway from it too",
                      "remove 'gateway' (set the pool's 'router' to choose it)")
        if spec.kind == "switch":
            if spec.gateway is not None:
                out.error(f"{where}.gateway", "a switch has no default gateway", "remove it; switches do not route")
            if spec.routes:
                out.error(f"{where}.routes", "a switch has no routes", "remove them; switches do not route")
        _check_services(where, spec, out)
        if spec.kind != "router":
            for key in ("routing", "router_id", "dhcp_relay"):
                if getattr(spec, key) is not None:
                    out.error(f"{where}.{key}", f"only routers have '{key}'", f"remove it from this {spec.kind}")

    known = sorted(set(nodes) | broken)

    def check_end(where: str, node: str, iface: str | None) -> None:
        if node not in nodes and node in broken:
            return    # known by name only: its problem is reported already
        if node not in nodes:
            out.error(where, f"unknown node '{node}'", name_hint(node, known, "nodes", "declare it under 'nodes:'"))
        elif iface is not None:
            bad = iface_problem(iface)
            if bad:
                out.error(where, *bad)
            elif nodes[node].kind == "switch" and iface == BRIDGE_NAME:
                out.error(where, f"'{BRIDGE_NAME}' is the switch's own bridge, not a port",
                          "name switch ports eth0, eth1, ..., or leave the name out")

    for i, link in enumerate(lab.links):
        if link is None:
            continue
        for side in ("a", "b"):
            end = getattr(link, side)
            check_end(f"links[{i}].{side}", end.node, end.iface)
        if link.a.node == link.b.node and link.a.node in nodes:
            out.error(f"links[{i}]", f"both ends are on node '{link.a.node}'", "a link joins two different nodes")
    for lan_name, lan in lab.lans.items():
        if not NAME_RE.match(lan_name):
            out.error(f"lans.{lan_name}", f"'{lan_name}' is not a valid LAN name (it names the LAN's switch)",
                      NAME_HINT)
        for m, member in enumerate(lan.members):
            where = f"lans.{lan_name}.members[{m}]"
            check_end(where, member.node, member.iface)
            if member.node in nodes and nodes[member.node].kind == "switch":
                out.error(where, f"'{member.node}' is a switch; a LAN's members are hosts and routers",
                          "join switches with a link, or name it as the LAN's 'switch'")


def check_service_folders(lab: ParsedLab, out: Problems) -> None:
    """Folders the lab serves: in the lab folder (symbolic links followed), and
    all that the lab copies into its nodes within the bounds of confine."""
    if lab.folder is None:
        return
    total_bytes = total_entries = 0
    walks: dict[Path, confine.Walk] = {}
    max_bytes = confine.max_copy_bytes()
    for name, spec in lab.nodes.items():
        for k, svc in enumerate(spec.services):
            if svc.root is None:
                continue
            where = f"nodes.{name}.services[{k}].root"
            away = confine.outside(lab.folder, svc.root)
            if away is not None:
                shown = "" if str(away) == svc.root else f" (it resolves to {away})"
                out.error(where, f"'{svc.root}' is outside the lab folder{shown}; a lab file may name only "
                                 "files inside its own folder",
                          "copy what to serve into the lab folder and name it relative to it, e.g. 'www'")
                continue
            folder = (lab.folder / svc.root).resolve()
            if not folder.is_dir():
                out.error(where, f"there is no folder '{svc.root}' in the lab folder",
                          "create it, or give the path of the folder to serve, relative to the lab folder")
                continue
            if folder not in walks:
                walks[folder] = confine.walk(folder, max_bytes=max_bytes)
                for rel, why in walks[folder].left_out[:5]:
                    out.warn(where, f"{svc.root}/{rel} {why}: it is not copied into the node")
            walk = walks[folder]
            total_bytes += walk.size
            total_entries += len(walk.entries)
            if walk.truncated or total_bytes > max_bytes or total_entries > confine.MAX_COPY_FILES:
                out.error(where, f"the lab copies more than {confine.describe_size(max_bytes)} or "
                                 f"{confine.MAX_COPY_FILES:,} files into its nodes (counted up to here: "
                                 f"{confine.describe_size(total_bytes)}, {total_entries:,} files; every node "
                                 "serving a folder gets its own copy)",
                          "serve smaller folders, or allow more with LABNET_MAX_COPY_MB")
                return


def check_images(lab: ParsedLab, out: Problems, present: Callable[[str], bool | str | None]) -> None:
    """Images the nodes name must be on the engine already: labnet never pulls.
    present(image): True, False (not there), None (no engine to ask), or why
    the backend takes no image at all."""
    answers: dict[str, bool | str | None] = {}
    for name, spec in lab.nodes.items():
        if spec.image is None:
            continue
        if spec.image not in answers:
            answers[spec.image] = present(spec.image)
        answer = answers[spec.image]
        if isinstance(answer, str):
            out.error(f"nodes.{name}.image", f"node {name} names image '{spec.image}': {answer}")
        elif answer is False:
            out.error(f"nodes.{name}.image", f"image '{spec.image}' is not on this engine; build or load it first "
                                             f"(docker load -i FILE, or docker build --network none -t "
                                             f"{spec.image} FOLDER)",
                      "labnet never pulls images: no registry is contacted; leave 'image' out for the "
                      "project's node image")
