#!/usr/bin/env python3
"""The routing daemon at scale: a generated lab of N routers (a ring with
chords, each router with a host LAN, `routing: dynamic`) on the netns
backend. Prints the deploy time, the time from the deploy's end until every
router's kernel routes to every other router's LAN are the shortest paths
(full routes, checked against a breadth-first search of the plan), the time
to re-converge after one cable of the ring is pulled (the shortest paths
without it), the daemons' CPU time during each and their memory (PSS).
Baseline in the same run: the same lab with `routing: computed` (the routes
written at deploy, no daemon).

    .venv/bin/python bench/bench_dynamic_scale.py [--routers 100,200] [--timeout 120]

Needs root. Traffic stays between the lab's own namespaces.
"""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import lab as api  # noqa: E402
from orchestrator.backend.netns import NetnsBackend  # noqa: E402


def lab_text(n: int, routing: str) -> str:
    lines = [f"name: dyn{n}", f"routing: {routing}", "pools: {lan: 10.0.0.0/8, p2p: 172.16.0.0/12}"]
    if routing == "dynamic":
        lines.append("dynamic: {hello_interval: 1, dead_interval: 4}")
    lines.append("nodes:")
    for i in range(n):
        lines += [f"  r{i}: {{kind: router}}", f"  h{i}: {{kind: host}}"]
    lines.append("lans:")
    lines += [f"  lan{i}: {{members: [r{i}, h{i}]}}" for i in range(n)]
    lines.append("links:")
    step = max(2, n // 4)
    seen = set()
    for i in range(n):
        for j in ((i + 1) % n, (i + step) % n if i % 5 == 0 else None):
            if j is None or j == i or (min(i, j), max(i, j)) in seen:
                continue
            seen.add((min(i, j), max(i, j)))
            lines.append(f"  - {{a: r{i}, b: r{j}}}")
    return "\n".join(lines) + "\n"


CLONE_NEWNET = 0x40000000
NLMSG_DONE, NLMSG_ERROR, RTM_NEWROUTE, RTM_GETROUTE = 3, 2, 24, 26
RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_TABLE = 1, 5, 9, 15
NLMSGHDR, RTMSG, RTATTR, RTNEXTHOP = struct.Struct("=IHHII"), struct.Struct("=BBBBBBBBI"), \
    struct.Struct("=HH"), struct.Struct("=HBBi")
Routes = dict[tuple[int, int], frozenset[bytes]]   # (network, length) -> gateways


class RouteReader:
    """One rtnetlink socket made inside each router's network namespace (a
    thread of ours enters each in turn), kept open: a dump of a router's
    IPv4 main table is then one request and a parse of (prefix, gateways),
    a few ms for 2 000 routes. pyroute2 took about 0.3 s per router for it,
    so that at 1 000 routers one look at all of them took minutes."""

    def __init__(self, paths: dict[str, str]):
        self.socks: dict[str, socket.socket] = {}
        failed: list[BaseException] = []
        libc = ctypes.CDLL(None, use_errno=True)

        def inside() -> None:
            try:
                for name, path in paths.items():
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        if libc.setns(fd, CLONE_NEWNET) != 0:
                            raise OSError(ctypes.get_errno(), f"setns {path}")
                    finally:
                        os.close(fd)
                    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                    sock.bind((0, 0))
                    self.socks[name] = sock
            except BaseException as exc:   # reported by the caller's thread
                failed.append(exc)

        thread = threading.Thread(target=inside)   # its namespace dies with it; the sockets stay where made
        thread.start()
        thread.join()
        if failed:
            self.close()
            raise failed[0]

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()

    def routes(self, name: str) -> Routes:
        sock = self.socks[name]
        sock.send(NLMSGHDR.pack(NLMSGHDR.size + RTMSG.size, RTM_GETROUTE, 0x301, 1, 0)
                  + RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0))
        out: Routes = {}
        while True:
            data = sock.recv(1 << 20)
            if _parse_routes(data, out):
                return out


def _parse_routes(data: bytes, out: Routes) -> bool:
    """Add the gatewayed unicast routes of the main table in one dump datagram to out; True at its end."""
    off, size = 0, len(data)
    while off + NLMSGHDR.size <= size:
        length, mtype = NLMSGHDR.unpack_from(data, off)[:2]
        if length < NLMSGHDR.size:
            return True
        if mtype in (NLMSG_DONE, NLMSG_ERROR):
            return True
        p, end = off + NLMSGHDR.size, off + length
        off += (length + 3) & ~3
        if mtype != RTM_NEWROUTE:
            continue
        _family, dst_len, _, _, table, _, _, rtype, _ = RTMSG.unpack_from(data, p)
        if rtype != 1:
            continue
        a, dst, gws = p + RTMSG.size, 0, []
        while a + 4 <= end:
            alen, kind = RTATTR.unpack_from(data, a)
            if alen < 4:
                break
            if kind == RTA_DST:
                dst = int.from_bytes(data[a + 4:a + 8], "big")
            elif kind == RTA_TABLE:
                table = struct.unpack_from("=I", data, a + 4)[0]
            elif kind == RTA_GATEWAY:
                gws.append(data[a + 4:a + 8])
            elif kind == RTA_MULTIPATH:
                h, hend = a + 4, a + alen
                while h + RTNEXTHOP.size <= hend:
                    hlen = RTNEXTHOP.unpack_from(data, h)[0]
                    if hlen < RTNEXTHOP.size:
                        break
                    s = h + RTNEXTHOP.size
                    while s + 4 <= h + hlen:
                        slen, skind = RTATTR.unpack_from(data, s)
                        if slen < 4:
                            break
                        if skind == RTA_GATEWAY:
                            gws.append(data[s + 4:s + 8])
                        s += (slen + 3) & ~3
                    h += (hlen + 3) & ~3
            a += (alen + 3) & ~3
        if gws and table == 254:
            out[(dst, dst_len)] = frozenset(gws)
    return False


def reference(plan, down: tuple[str, str] | None = None) -> dict[str, Routes]:
    """Every router's routes to the other routers' LANs as shortest paths
    give them (breadth first: every cost is the same), each with all its
    equal-cost gateways; `down` (two routers): without the cable between
    them. Independent of the daemon: what its kernel routes must become."""
    routers = [n for n, node in plan.nodes.items() if node.kind == "router"]
    lan: dict[str, tuple[int, int]] = {}
    ends: dict[int, list[tuple[str, str]]] = {}
    for node in (plan.nodes[r] for r in routers):
        for i in node.interfaces:
            ends.setdefault(i.link, []).append((node.name, i.name))
    adj: dict[str, list[tuple[str, bytes]]] = {r: [] for r in routers}  # router -> (neighbour, its gateway address)
    for pair in ends.values():
        if len(pair) != 2:
            continue
        (u, ui), (v, vi) = pair
        if down and {u, v} == set(down):
            continue
        ua = next(i.address for i in plan.nodes[u].interfaces if i.name == ui)
        va = next(i.address for i in plan.nodes[v].interfaces if i.name == vi)
        adj[u].append((v, socket.inet_aton(va.split("/")[0])))
        adj[v].append((u, socket.inet_aton(ua.split("/")[0])))
    for r in routers:
        for i in plan.nodes[r].interfaces:
            if len(ends.get(i.link, ())) != 2 and i.address:
                net = ipaddress.ip_interface(i.address).network
                lan[r] = (int(net.network_address), net.prefixlen)
    out: dict[str, Routes] = {r: {} for r in routers}
    for d in routers:   # distances to d, then each router's gateways towards it
        dist = {d: 0}
        queue = deque([d])
        while queue:
            u = queue.popleft()
            for v, _gw in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        for u in routers:
            if u != d and u in dist:
                out[u][lan[d]] = frozenset(gw for v, gw in adj[u] if dist.get(v) == dist[u] - 1)
    return out


def right(have: Routes, want: Routes, ecmp: bool) -> bool:
    """Whether a router's kernel routes are the reference's: each prefix with
    exactly its gateways (ecmp), or with one or more of them (computed
    routes take one of the shortest paths)."""
    if ecmp:
        return all(have.get(k) == v for k, v in want.items())
    return all(k in have and have[k] <= v for k, v in want.items())


def wait_routes(reader: RouteReader, want: dict[str, Routes], timeout: float,
                ecmp: bool) -> tuple[float | None, int]:
    """Seconds until every router's kernel routes to the LANs are the
    reference's (see right), or None; and how many routers were still wrong
    at the end. A router found right is
    looked at again only in the final pass, which starts over if any went
    wrong again (so the time is of a state seen whole)."""
    start = time.perf_counter()
    pending = set(want)
    while time.perf_counter() - start < timeout:
        for name in list(pending):
            if right(reader.routes(name), want[name], ecmp):
                pending.discard(name)
        if not pending:
            done = time.perf_counter() - start
            pending = {n for n in want if not right(reader.routes(n), want[n], ecmp)}
            if not pending:
                return done, 0
        time.sleep(0.02)
    return None, len(pending)


def pss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def daemon_pids(lab: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "labnode.routing"], capture_output=True, text=True).stdout.split()
    pids = []
    for pid in out:
        try:
            ns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        pids.append((int(pid), ns))
    mine = set()
    for entry in Path("/run/netns").glob(f"labnet-{lab}-r*"):
        mine.add(os.stat(entry).st_ino)
    return [pid for pid, ns in pids if int(ns.split("[")[1].rstrip("]")) in mine]


def run(n: int, routing: str, timeout: float) -> dict[str, float | None]:
    backend = NetnsBackend()
    lab = f"dyn{n}"
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "lab.yml").write_text(lab_text(n, routing))
        t = time.perf_counter()
        result = api.deploy(folder, backend=backend)
        deployed = time.perf_counter() - t
    plan = result.plan
    routers = [name for name, node in plan.nodes.items() if node.kind == "router"]
    out: dict[str, float | None] = {"deploy": deployed}
    reader = RouteReader({r: backend.netns_path(lab, r) for r in routers})
    try:
        pids = daemon_pids(lab) if routing == "dynamic" else []
        cpu0 = cpu_seconds(pids)
        out["full"], out["wrong"] = wait_routes(reader, reference(plan), timeout, routing == "dynamic")
        out["cpu_full"] = cpu_seconds(pids) - cpu0 if pids else None
        out["pss"] = pss_mib(pids) / n if pids else None
        # pull the cable r0 - r1 (its end on r0): every router's routes must become those without it
        cable = next(x for x in plan.links if {x.a.node, x.b.node} == {"r0", "r1"})
        end = cable.a if cable.a.node == "r0" else cable.b
        want = reference(plan, down=("r0", "r1"))
        cpu0 = cpu_seconds(pids)
        backend.set_link_state(lab, "r0", end.iface, False)
        if routing == "dynamic":
            out["recover"], out["wrong_after"] = wait_routes(reader, want, timeout, True)
            out["cpu_recover"] = cpu_seconds(pids) - cpu0
        else:
            out["recover"] = None   # computed routes stay: nothing re-converges
    finally:
        reader.close()
        api.destroy(lab, backend=backend)
    return out


def fmt(v: float | None, unit: str = "s") -> str:
    return "-" if v is None else f"{v:.2f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routers", default="100,200")
    ap.add_argument("--routing", default="computed,dynamic", help="which to run, in this order")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so a killed run still destroys its lab
    print("routers  routing    deploy     full routes  (daemons' CPU)  recovered  (daemons' CPU)  "
          "daemon PSS/router")
    for n in (int(x) for x in args.routers.split(",")):
        for routing in args.routing.split(","):
            got = run(n, routing, args.timeout)
            full = fmt(got["full"]) if got["full"] is not None else \
                f"not in {args.timeout:.0f} s ({got['wrong']:.0f} wrong)"
            rec = got.get("recover")
            recover = fmt(rec) if rec is not None or routing != "dynamic" else \
                f"not in {args.timeout:.0f} s ({got['wrong_after']:.0f} wrong)"
            print(f"{n:7d}  {routing:9s}  {fmt(got['deploy']):9s}  {full:11s}  "
                  f"{fmt(got.get('cpu_full'), 'CPU-s'):14s}  "
                  f"{recover:9s}  {fmt(got.get('cpu_recover'), 'CPU-s'):14s}  {fmt(got.get('pss'), 'MiB')}",
                  flush=True)
    print("full routes: from the deploy's end until every router's kernel routes to every other router's LAN "
          "are the shortest paths' (the daemon's with all their equal-cost gateways, computed ones with one or more "
          "of them: a breadth-first search of the plan, not the daemon's); recovered: the same, from pulling "
          "the cable r0-r1 (r0's end down) until they are "
          "the shortest paths without it; computed routes are written at deploy and do not re-converge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
