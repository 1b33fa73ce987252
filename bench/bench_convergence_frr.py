"""Convergence of labs/dijkstra-mesh: our link-state daemon against FRR's ospfd.

    sudo .venv/bin/python bench/bench_convergence_frr.py [--reps 10] [--multiplier 5]

Deploys the mesh twice, one after the other, on the real engine:

  bench-ours  labs/dijkstra-mesh as written (routing: dynamic, our daemon);
  bench-frr   the same nodes, links, costs and addresses (routing: static),
              routers on a bench-only image with Debian's FRR
              (images/bench-frr, built on demand, reused by tag), running
              zebra + ospfd: every router interface in area 0 with the link's
              cost, point-to-point on router-router links, LANs passive,
              `ip ospf dead-interval minimal hello-multiplier N` (N=5: hellos
              every 200 ms, dead after 1 s), `timers throttle spf 0 50 200`,
              and (unless --frr-lsa-defaults) no LSA pacing:
              `timers throttle lsa all 0`, `timers lsa min-arrival 0`; zebra
              without kernel nexthop objects (unless --frr-kernel-nhg: FRR
              8.4 then loses an ECMP next hop for good after a link flap).
              FRR's daemons refuse to start without CAP_SYS_ADMIN, so these
              routers (only these) get it on top of NET_ADMIN and NET_RAW.

Each repetition sets one router-router veth end down from the host (pyroute2
in the router's namespace), cycling through the mesh's links in the same
order for both labs, and polls every router's kernel table (netlink dumps
from the host; only the routing protocol's routes: proto 99 for ours, proto
ospf (188) for FRR's zebra; next hops the kernel marks dead are left out)
until it equals a reference shortest-path computation over the plan for the
changed graph (ECMP next-hop sets included) and stays so for --settle
seconds. The time reported is that of the last route change of the protocol
(rtnetlink events timestamped on arrival, in every router) before the poll
that first saw the final state, so it does not depend on the poll rate
(0 when the kernel alone made the table right). Two figures per failure:

  all   until every router's whole table is right, including the withdrawal
        of the failed link's own /30 (the far end only learns of the failure
        from the carrier loss);
  lans  until the routes to the four host LANs are right (what hosts see).

Then the link comes back and both are awaited again. Control traffic is
counted at steady state with tcpdump in every router (outgoing packets of the
routing protocol only: udp port 5299 for ours, IP protocol 89 for OSPF; IP
bytes, link headers left out). Both labs are destroyed at the end, also on
failure or Ctrl-C. Needs root and the engine.
"""
from __future__ import annotations

import argparse
import ctypes
import heapq
import os
import selectors
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker.errors
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator import PROJECT  # noqa: E402
from orchestrator import lab as api  # noqa: E402
from orchestrator.backend import netlink, rtnl  # noqa: E402
from orchestrator.backend.dockerengine import DockerBackend  # noqa: E402
from orchestrator.backend.images import NODE_DIR, build_base, recipe_tag  # noqa: E402
from orchestrator.digest import tree_digest  # noqa: E402
from orchestrator.labels import LABEL_PROJECT, LABEL_ROLE  # noqa: E402
from orchestrator.plan import Plan  # noqa: E402
from orchestrator.progress import Event  # noqa: E402

MESH = ROOT / "labs" / "dijkstra-mesh"
FRR_RECIPE = ROOT / "images" / "bench-frr"
FRR_BASE_REPO = f"{PROJECT}/bench-frr-base"
FRR_REPO = f"{PROJECT}/bench-frr"
PROTO_OURS, PROTO_OSPF = 99, 188
RTNH_F_DEAD = 1
RTM_NEWROUTE, RTM_DELROUTE, RTMGRP_IPV4_ROUTE, CLONE_NEWNET = 24, 25, 0x40, 0x40000000


def say(msg: str) -> None:
    print(msg, flush=True)


# --- the FRR image ---------------------------------------------------------------------
def ensure_frr_image(client) -> str:
    """Bootstrap images/bench-frr (base packages + frr), then put the project's
    in-node programs on it with images/node/Dockerfile (--network none)."""
    def progress(e: Event) -> None:
        if not e.message.startswith("debootstrap: I: "):
            say(f"  [image] {e.message}")

    def exists(tag: str) -> bool:
        try:
            client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False

    base = recipe_tag(FRR_BASE_REPO, FRR_RECIPE)
    tag = f"{FRR_REPO}:{tree_digest(NODE_DIR, base)}"
    if exists(tag):
        return tag
    if not exists(base):
        say(f"building {base} (debootstrap, a few minutes)")
        build_base(client, base, progress, recipe=FRR_RECIPE)
    say(f"building {tag}")
    for chunk in client.api.build(path=str(NODE_DIR), tag=tag, buildargs={"BASE": base},
                                  network_mode="none", rm=True, forcerm=True, decode=True,
                                  labels={LABEL_PROJECT: PROJECT, LABEL_ROLE: "bench-frr"}):
        if "error" in chunk:
            raise RuntimeError(f"building {tag}: {chunk['error'].strip()}")
    return tag


class _FrrCapsClient:
    """A Docker client that starts FRR-image containers with CAP_SYS_ADMIN too.

    FRR's daemons ask for cap_sys_admin at start (lib/privs.c) and exit when the
    bounding set lacks it; the lab's nodes only get NET_ADMIN and NET_RAW. Only
    the bench's FRR routers get it (still no Docker network, not privileged)."""

    def __init__(self, client, image: str):
        self._client, self._image = client, image

    def __getattr__(self, name):
        return getattr(self._client, name)

    @property
    def containers(self):
        outer = self

        class Containers:
            def __getattr__(self, name):
                return getattr(outer._client.containers, name)

            def run(self, image, **kw):
                if image == outer._image:
                    kw["cap_add"] = [*kw.get("cap_add", []), "SYS_ADMIN"]
                return outer._client.containers.run(image, **kw)

        return Containers()


# --- the FRR variant of the lab and its configuration ---------------------------------------
def frr_variant(folder: Path, image: str) -> Path:
    """labs/dijkstra-mesh with routing: static and the FRR image on every router."""
    doc = yaml.safe_load((MESH / "lab.yml").read_text())
    doc["name"] = "bench-frr"
    doc["routing"] = "static"
    doc.pop("dynamic", None)
    for node in doc["nodes"].values():
        if node.get("kind") == "router":
            node["image"] = image
            node.pop("routing", None)
    path = folder / "lab.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def frr_config(plan: Plan, router: str, router_id: str, multiplier: int, lsa_defaults: bool,
               kernel_nhg: bool) -> str:
    node = plan.nodes[router]
    routers = {n for n, x in plan.nodes.items() if x.kind == "router"}
    lines = ["frr defaults traditional", f"hostname {router}", "log file /var/log/frr/frr.log informational",
             "service integrated-vtysh-config"]
    if not kernel_nhg:
        # FRR 8.4 with kernel nexthop objects loses an ECMP next hop for good
        # after an interface flap (see bench/README_frr.md): plain routes instead
        lines += ["no zebra nexthop kernel enable"]
    lines += ["!"]
    for iface in node.interfaces:
        if not iface.address:
            continue
        p2p = iface.peer.split(":")[0] in routers
        lines += [f"interface {iface.name}", " ip ospf area 0", f" ip ospf cost {iface.cost}"]
        if p2p:
            lines += [" ip ospf network point-to-point",
                      f" ip ospf dead-interval minimal hello-multiplier {multiplier}"]
        else:
            lines += [" ip ospf passive"]
        lines += ["!"]
    lines += ["router ospf", f" ospf router-id {router_id}", " timers throttle spf 0 50 200"]
    if not lsa_defaults:
        lines += [" timers throttle lsa all 0", " timers lsa min-arrival 0"]
    return "\n".join(lines + ["!", ""])


def start_frr(backend: DockerBackend, plan: Plan, multiplier: int, lsa_defaults: bool,
              kernel_nhg: bool) -> None:
    ours = api.plan_lab(MESH)[0]   # router ids as the daemon uses them
    routers = sorted(n for n, x in plan.nodes.items() if x.kind == "router")

    def one(r: str) -> None:
        container = backend.client.containers.get(plan.nodes[r].container)
        conf = frr_config(plan, r, ours.nodes[r].daemon.router_id, multiplier, lsa_defaults,
                          kernel_nhg)
        backend.put_files(container, {"/etc/frr/frr.conf": conf})
        res = container.exec_run(["sh", "-c", "chown frr:frr /etc/frr/frr.conf && mkdir -p /var/log/frr "
                                  "&& chown frr:frr /var/log/frr && /usr/lib/frr/frrinit.sh start"])
        if res.exit_code != 0:
            raise RuntimeError(f"starting FRR in {r}: {res.output.decode(errors='replace')}")

    with ThreadPoolExecutor(len(routers)) as pool:
        list(pool.map(one, routers))


# --- the reference: shortest paths over the plan ------------------------------------------------
def expected_tables(plan: Plan, without: frozenset[str] = frozenset()) -> dict[str, dict[str, frozenset]]:
    """{router: {prefix: {(next hop address, our interface), ...}}} with every
    equal-cost next hop; segments named in `without` are gone (link down)."""
    routers = sorted(n for n, x in plan.nodes.items() if x.kind == "router")
    addr = {f"{n.name}:{i.name}": i.address.split("/")[0]
            for n in plan.nodes.values() for i in n.interfaces if i.address}
    adj: dict[str, list[tuple[str, int, str, str]]] = {r: [] for r in routers}
    owners: dict[str, set[str]] = {}
    for seg in plan.segments:
        if seg.name in without or not seg.prefix:
            continue
        ports = [p for p in seg.ports if p.split(":")[0] in routers]
        owners[seg.prefix] = {p.split(":")[0] for p in ports}
        for p in ports:
            for q in ports:
                if p.split(":")[0] != q.split(":")[0]:
                    adj[p.split(":")[0]].append((q.split(":")[0], seg.cost, addr[q], p.split(":")[1]))

    def dijkstra(src: str) -> dict[str, float]:
        dist = {src: 0}
        heap = [(0, src)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for v, c, _, _ in adj[u]:
                if d + c < dist.get(v, float("inf")):
                    dist[v] = d + c
                    heapq.heappush(heap, (d + c, v))
        return dist

    dist = {r: dijkstra(r) for r in routers}
    out = {}
    for r in routers:
        table = {}
        for prefix, own in owners.items():
            reach = [dist[r][o] for o in own if o in dist[r]]
            if r in own or not reach:
                continue
            best = min(reach)
            table[prefix] = frozenset((via, dev) for v, c, via, dev in adj[r]
                                      if any(c + dist[v].get(o, float("inf")) == best for o in own))
        out[r] = table
    return out


def lan_prefixes(plan: Plan) -> set[str]:
    return {s.prefix for s in plan.segments
            if s.prefix and any(plan.nodes[p.split(":")[0]].kind == "host" for p in s.ports)}


# --- reading the kernel tables ----------------------------------------------------------------
class Tables:
    """Netlink handles into every router's namespace; one dump per router per poll."""

    def __init__(self, backend: DockerBackend, plan: Plan, proto: int):
        self.proto = proto
        self.pids = {n.node: n.pid for n in backend.nodes(plan.lab)}
        self.routers = sorted(n for n, x in plan.nodes.items() if x.kind == "router")
        self.ipr = {r: netlink.open_netns(self.pids[r]) for r in self.routers}
        self.names = {r: {ln["index"]: ln.get_attr("IFLA_IFNAME") for ln in self.ipr[r].get_links()}
                      for r in self.routers}

    def read(self, router: str) -> dict[str, frozenset]:
        names = self.names[router]
        table = {}
        for msg in self.ipr[router].get_routes(family=socket.AF_INET, table=254):
            if msg["proto"] != self.proto:
                continue
            dst = f"{msg.get_attr('RTA_DST') or '0.0.0.0'}/{msg['dst_len']}"
            multipath = msg.get_attr("RTA_MULTIPATH")
            if multipath:
                hops = frozenset((h.get_attr("RTA_GATEWAY"), names.get(h["oif"]))
                                 for h in multipath if not h["flags"] & RTNH_F_DEAD)
            else:
                hops = frozenset({(msg.get_attr("RTA_GATEWAY"), names.get(msg.get_attr("RTA_OIF")))})
            table[dst] = hops
        return table

    def read_all(self) -> dict[str, dict[str, frozenset]]:
        return {r: self.read(r) for r in self.routers}

    def set_link(self, router: str, iface: str, up: bool) -> None:
        ipr = self.ipr[router]
        ipr.link("set", index=ipr.link_lookup(ifname=iface)[0], state="up" if up else "down")

    def close(self) -> None:
        for ipr in self.ipr.values():
            ipr.close()


class RouteEvents:
    """Timestamps, on arrival, every kernel route change of one protocol in
    every router (an rtnetlink socket per namespace, read by one thread), so
    that the figures do not depend on how fast the tables are polled."""

    def __init__(self, pids: dict[str, int], proto: int):
        self.proto = proto
        self.selector = selectors.DefaultSelector()
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            for router, pid in pids.items():
                fd = os.open(rtnl.netns_path(pid), os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {router}")
                    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                    sock.bind((0, RTMGRP_IPV4_ROUTE))
                finally:
                    os.close(fd)
                    if libc.setns(home, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns back home")
                self.selector.register(sock, selectors.EVENT_READ, router)
        finally:
            os.close(home)
        self.events: list[tuple[float, str, str]] = []   # (time, router, prefix)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            for key, _ in self.selector.select(0.1):
                now = time.monotonic()
                data = key.fileobj.recv(1 << 16)
                off = 0
                while off + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, off)
                    if length < 16:
                        break
                    if kind in (RTM_NEWROUTE, RTM_DELROUTE) and length >= 28:
                        family, dst_len, _, _, _, proto = struct.unpack_from("=6B", data, off + 16)
                        if family == socket.AF_INET and proto == self.proto:
                            dst, a = "0.0.0.0", off + 28
                            while a + 4 <= off + length:
                                alen, atype = struct.unpack_from("=HH", data, a)
                                if alen < 4:
                                    break
                                if atype == 1:  # RTA_DST
                                    dst = socket.inet_ntoa(data[a + 4:a + 8])
                                a += (alen + 3) & ~3
                            with self.lock:
                                self.events.append((now, key.data, f"{dst}/{dst_len}"))
                    off += (length + 3) & ~3

    def last(self, start: float, end: float, prefixes: set[str] | None = None) -> float | None:
        with self.lock:
            times = [t for t, _, p in self.events if start <= t <= end and (prefixes is None or p in prefixes)]
        return max(times) if times else None

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()


def converge(tables: Tables, events: RouteEvents, want: dict, lans: set[str], start: float,
             timeout: float, settle: float, poll: float = 0.005) -> tuple[float | None, float | None, dict]:
    """Poll until the tables equal `want` and stay so for `settle` s. Returns,
    in seconds from `start`, when the whole tables (and the LAN routes) became
    right for good: the time of the last route change of the protocol before
    the poll that first saw the final state (0 if the protocol changed nothing,
    the kernel alone made it right), or None if that never happened."""
    want_lans = {r: {p: h for p, h in t.items() if p in lans} for r, t in want.items()}
    ok_since = lan_since = None
    deadline = time.monotonic() + timeout
    while True:
        got = tables.read_all()
        now = time.monotonic()
        ok = got == want
        lan_ok = {r: {p: h for p, h in t.items() if p in lans} for r, t in got.items()} == want_lans
        ok_since = (ok_since or now) if ok else None
        lan_since = (lan_since or now) if lan_ok else None
        if (ok and now - ok_since >= settle) or now > deadline:
            break
        time.sleep(poll)

    def when(since: float | None, prefixes: set[str] | None) -> float | None:
        if since is None:
            return None
        last = events.last(start, since, prefixes)
        return 0.0 if last is None else last - start

    return when(ok_since, None), when(lan_since, lans), got


def diff(want: dict, got: dict) -> str:
    out = []
    for r in sorted(want):
        for p in sorted(set(want[r]) | set(got.get(r, {}))):
            w, g = want[r].get(p), got.get(r, {}).get(p)
            if w != g:
                out.append(f"    {r} {p}: want {sorted(w) if w else '-'} got {sorted(g) if g else '-'}")
    return "\n".join(out)


# --- control traffic ----------------------------------------------------------------------
def control_traffic(backend: DockerBackend, plan: Plan, bpf: str, seconds: float) -> dict[str, tuple[float, float]]:
    """Outgoing routing-protocol packets/s and IP bytes/s per router, by
    tcpdump, over the span between the first and last packet it captured."""
    routers = sorted(n for n, x in plan.nodes.items() if x.kind == "router")

    def one(r: str) -> tuple[float, float]:
        c = backend.client.containers.get(plan.nodes[r].container)
        res = c.exec_run(["timeout", "-s", "INT", str(seconds + 1.5), "tcpdump", "-i", "any", "-Q", "out",
                          "-nn", "-s", "64", "-U", "-w", "-", bpf], demux=True)
        data = res.output[0] or b""
        stamps, sizes = [], []
        off = 24  # pcap global header; LINUX_SLL (16-byte header) records follow
        while off + 16 <= len(data):
            sec, usec, caplen, origlen = struct.unpack_from("<IIII", data, off)
            stamps.append(sec + usec / 1e6)
            sizes.append(origlen - 16)
            off += 16 + caplen
        # the rate over the span of the capture (tcpdump takes a while to start)
        span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
        if span <= 0:
            return 0.0, 0.0
        return (len(stamps) - 1) / span, sum(sizes[1:]) / span
    with ThreadPoolExecutor(len(routers)) as pool:
        return dict(zip(routers, pool.map(one, routers)))


# --- one lab ------------------------------------------------------------------------------
def router_links(plan: Plan) -> list[tuple[str, str, str]]:
    """(segment, router, interface) of each router-router link, in file order."""
    routers = {n for n, x in plan.nodes.items() if x.kind == "router"}
    out = []
    for seg in plan.segments:
        nodes = [p.split(":")[0] for p in seg.ports]
        if len(nodes) == 2 and set(nodes) <= routers and not seg.switches:
            out.append((seg.name, *seg.ports[0].split(":")))
    return out


def run_lab(label: str, backend: DockerBackend, plan: Plan, proto: int, bpf: str, args) -> dict:
    tables = Tables(backend, plan, proto)
    events = RouteEvents({r: tables.pids[r] for r in tables.routers}, proto)
    lans = lan_prefixes(plan)
    result = {"all": [], "lans": [], "up": [], "failures": []}
    try:
        want = expected_tables(plan)
        t0 = time.monotonic()
        total, _, got = converge(tables, events, want, lans, t0, args.initial_timeout, settle=1.0)
        if total is None:
            raise RuntimeError(f"{label}: no initial convergence in {args.initial_timeout} s:\n{diff(want, got)}")
        say(f"{label}: every router's table matches the reference")
        time.sleep(2.0)
        result["traffic"] = control_traffic(backend, plan, bpf, args.traffic_seconds)
        links = router_links(plan)
        say(f"{'rep':>4} {'link down':>12} {'all ms':>8} {'lans ms':>8} {'back up ms':>11}")
        for rep in range(args.reps):
            seg, router, iface = links[rep % len(links)]
            peer = next(p.split(":")[0] for p in next(s for s in plan.segments if s.name == seg).ports
                        if not p.startswith(f"{router}:"))
            want_down = expected_tables(plan, frozenset({seg}))
            start = time.monotonic()
            tables.set_link(router, iface, up=False)
            total, lan, got = converge(tables, events, want_down, lans, start, args.timeout, args.settle)
            if total is None:
                result["failures"].append(f"rep {rep + 1} ({router}:{iface} down): not converged in "
                                          f"{args.timeout} s; wrong routes:\n{diff(want_down, got)}")
            start = time.monotonic()
            tables.set_link(router, iface, up=True)
            up, _, got_up = converge(tables, events, want, lans, start, args.timeout, args.settle)
            if up is None:
                result["failures"].append(f"rep {rep + 1} ({router}:{iface} back up): not converged in "
                                          f"{args.timeout} s; wrong routes:\n{diff(want, got_up)}")
            fmt = lambda v: f"{v * 1000:.1f}" if v is not None else "-"  # noqa: E731
            say(f"{rep + 1:>4} {router + '-' + peer:>12} {fmt(total):>8} {fmt(lan):>8} {fmt(up):>11}")
            for key, v in (("all", total), ("lans", lan), ("up", up)):
                if v is not None:
                    result[key].append(v * 1000)
            time.sleep(args.pause)
    finally:
        events.close()
        tables.close()
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def summary(values: list[float]) -> tuple[float, float, float] | None:
    return (statistics.median(values), percentile(values, 0.9), max(values)) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--multiplier", type=int, default=5, help="FRR hello-multiplier (1..10)")
    parser.add_argument("--frr-lsa-defaults", action="store_true",
                        help="keep FRR's default LSA pacing (throttle 5 s, min-arrival 1 s)")
    parser.add_argument("--frr-kernel-nhg", action="store_true",
                        help="let zebra use kernel nexthop objects (FRR's default; loses ECMP hops after a flap)")
    parser.add_argument("--settle", type=float, default=1.0, help="s a correct table must stay correct")
    parser.add_argument("--timeout", type=float, default=10.0, help="s to wait for one convergence")
    parser.add_argument("--initial-timeout", type=float, default=60.0)
    parser.add_argument("--pause", type=float, default=1.5, help="s between repetitions")
    parser.add_argument("--traffic-seconds", type=float, default=5.0)
    parser.add_argument("--only", choices=["ours", "frr"])
    args = parser.parse_args(argv)

    backend = DockerBackend()
    backend.check()
    results: dict[str, dict] = {}
    names = {"ours": "bench-ours", "frr": "bench-frr"}
    with tempfile.TemporaryDirectory(prefix="bench-frr-") as tmp:
        try:
            if args.only != "frr":
                api.destroy(names["ours"], backend=backend)
                plan = api.deploy(MESH, name=names["ours"], backend=backend).plan
                say(f"deployed {plan.lab} (our daemon, hello 0.2 s, dead 0.8 s)")
                results["ours"] = run_lab("ours", backend, plan, PROTO_OURS, "udp port 5299", args)
                api.destroy(names["ours"], backend=backend)
            if args.only != "ours":
                image = ensure_frr_image(backend.client)
                api.destroy(names["frr"], backend=backend)
                frr_backend = DockerBackend(_FrrCapsClient(backend.client, image))
                plan = api.deploy(frr_variant(Path(tmp), image), name=names["frr"], backend=frr_backend).plan
                start_frr(backend, plan, args.multiplier, args.frr_lsa_defaults, args.frr_kernel_nhg)
                say(f"deployed {plan.lab} ({image}, ospfd: hello {1000 // args.multiplier} ms, dead 1 s)")
                results["frr"] = run_lab("frr", backend, plan, PROTO_OSPF, "ip proto 89", args)
        finally:
            for name in names.values():
                api.destroy(name, backend=backend)

    say("")
    cols = [k for k in ("ours", "frr") if k in results]
    say(f"{'':38}" + "".join(f"  {k:>30}" for k in cols) + ("   frr/ours" if len(cols) == 2 else ""))
    for key, title in (("all", "link down, every route right"), ("lans", "link down, LAN routes right"),
                       ("up", "link back up, every route right")):
        stats = [summary(results[k][key]) for k in cols]
        cells = "".join(f"  {f'med {s[0]:5.0f}  p90 {s[1]:5.0f}  max {s[2]:5.0f}' if s else 'never':>30}"
                        for s in stats)
        ratio = (f"   {stats[1][0] / stats[0][0]:8.2f}x" if len(cols) == 2 and all(stats) and stats[0][0]
                 else "")
        say(f"{title + ' (ms)':<38}{cells}{ratio}")
    say("\ncontrol traffic at steady state, sent per router (routing protocol packets only):")
    routers = sorted(next(iter(results.values()))["traffic"]) if results else []
    for r in routers:
        say(f"  {r}: " + "   ".join(f"{k} {results[k]['traffic'][r][0]:5.1f} pkt/s "
                                    f"{results[k]['traffic'][r][1]:6.0f} B/s"
                                    for k in cols))
    for k in cols:
        t = results[k]["traffic"].values()
        say(f"  mean {k}: {statistics.mean(v[0] for v in t):.1f} pkt/s, {statistics.mean(v[1] for v in t):.0f} B/s")
    bad = [f"{k}: {f}" for k in cols for f in results[k]["failures"]]
    if bad:
        say("\nfailures:\n" + "\n".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
