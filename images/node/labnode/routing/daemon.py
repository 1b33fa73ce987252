"""The daemon: sockets, link events, kernel routes and signals around Router.

One thread, one selector.  Each routed interface has a UDP socket bound to
the device (SO_BINDTODEVICE), joined to the link-local multicast group on it
and sending with TTL 1, so no control packet can leave the link.  A netlink
socket reports links going up, down, losing carrier or disappearing; the
router hears about it at once instead of waiting for the dead interval.

Kernel routes are kept per family: the IPv4 table over one rtnetlink socket,
the IPv6 table over another (AF_INET6, the same protocol number, table and
metric), each installed, repaired and flushed (at start and at stop) alike.
The protocol's own packets are IPv4 only, whatever the families routed.
"""
from __future__ import annotations

import logging
import selectors
import signal
import socket
import struct
import time

from .addr import format_prefix, format_prefix6, int_to_ip
from .config import Config
from .control import ControlServer, answer
from .netlink import KernelNexthop, KernelNexthops, KernelRoutes, LinkMonitor, LinkState, NetlinkError, Prefix
from .router import Router
from .state import RouteTable

log = logging.getLogger("labnode.routing")
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
RECONCILE_INTERVAL = 10.0  # compare our routes with the kernel's this often
SETTLE_DELAY = 0.5  # ... and this long after a link event or a kernel error
RETRY_INTERVAL = 1.0  # retry opening interfaces that failed to open
MAX_DATAGRAM = 65535


def open_interface_socket(name: str, ifindex: int, group: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        mreqn = struct.pack("=4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"), ifindex)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        sock.bind(("0.0.0.0", port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Daemon:
    def __init__(self, config: Config):
        self.config = config
        self.clock = time.monotonic
        self.selector = selectors.DefaultSelector()
        self.kernel = KernelRoutes(config.route_protocol, config.route_metric, config.route_table)
        self.kernel6 = KernelRoutes(config.route_protocol, config.route_metric, config.route_table,
                                    socket.AF_INET6)
        self.installed: dict[Prefix, KernelNexthops] = {}
        self.installed6: dict[Prefix, KernelNexthops] = {}
        self._remove_stale_routes(self.kernel, "")
        self._remove_stale_routes(self.kernel6, "IPv6 ")
        self.links = LinkMonitor()
        self.ifindex: dict[str, int] = {}  # configured interfaces that exist
        self.running: set[str] = set()  # ... and are up with carrier
        self.sockets: dict[str, socket.socket] = {}  # ... and are running
        self.router = Router(config, self._send, self._install, now=self.clock(), on_routes6=self._install6)
        self.control = ControlServer(config.control_socket, lambda cmd: answer(self.router, cmd, self.clock()))
        self._stopping: str | bool = False
        self._next_reconcile = self.clock() + RECONCILE_INTERVAL
        self._next_retry = self.clock() + RETRY_INTERVAL

    # -- main loop -------------------------------------------------------------
    def run(self) -> None:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        old_fd = signal.set_wakeup_fd(wake_w.fileno())
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self.selector.register(wake_r, selectors.EVENT_READ, lambda: wake_r.recv(512))
        self.selector.register(self.links.sock, selectors.EVENT_READ, self._on_link_events)
        self.selector.register(self.control.sock, selectors.EVENT_READ, self.control.accept)
        for link in self.links.dump():
            self._on_link(link)
        log.info("router %s started: interfaces %s, control socket %s", int_to_ip(self.router.rid),
                 ", ".join(i.name for i in self.config.interfaces) or "none", self.config.control_socket)
        try:
            while not self._stopping:
                deadline = min(self.router.next_deadline(), self._next_reconcile, self._next_retry)
                for key, _ in self.selector.select(max(0.0, deadline - self.clock())):
                    try:
                        key.data()
                    except Exception:  # one event (a packet, a client, a netlink burst) never stops us
                        self.router.stats["internal_errors"] += 1
                        log.exception("error handling an event on fd %d", key.fd)
                now = self.clock()
                self.router.tick(now)
                if now >= self._next_reconcile:
                    self._reconcile()
                if now >= self._next_retry:
                    self._retry_interfaces()
        finally:
            self._shutdown()
            signal.set_wakeup_fd(old_fd)
            wake_r.close()
            wake_w.close()

    def _on_signal(self, signum, _frame) -> None:
        self._stopping = signal.Signals(signum).name  # logged by _shutdown, outside the handler

    def _shutdown(self) -> None:
        if self._stopping:
            log.info("%s received, withdrawing routes and leaving", self._stopping)
        self.router.shutdown(self.clock())
        self._install({})
        self._install6({})
        for kernel in (self.kernel, self.kernel6):
            for prefix in self._kernel_routes(kernel):  # anything of ours left behind
                self._kernel_call(kernel.delete, prefix, family=kernel.family)
        for name in list(self.sockets):
            self._close_interface(name)
        self.control.close()
        self.links.close()
        self.kernel.close()
        self.kernel6.close()
        log.info("stopped")

    # -- interfaces -----------------------------------------------------------
    def _on_link_events(self) -> None:
        events = self.links.read()
        if events is None:  # the kernel dropped events: ask for the whole picture
            events = self.links.dump()
            for name in list(self.ifindex):
                if all(link.name != name for link in events):
                    self._on_link(LinkState(self.ifindex[name], name, False, deleted=True))
        for link in events:
            self._on_link(link)

    def _on_link(self, link: LinkState) -> None:
        name = link.name
        if self.config.interface(name) is None:
            return
        self._reconcile_after(SETTLE_DELAY)
        now = self.clock()
        if link.deleted or (name in self.ifindex and self.ifindex[name] != link.index):
            self._close_interface(name)
            self.ifindex.pop(name, None)
            self.running.discard(name)
            self.router.interface_down(name, now)
            if link.deleted:
                return
        self.ifindex[name] = link.index
        (self.running.add if link.running else self.running.discard)(name)
        if link.running and name not in self.sockets:
            try:
                sock = open_interface_socket(name, link.index, self.config.multicast_group, self.config.port)
            except OSError as exc:
                log.warning("cannot open %s yet: %s", name, exc)
                return
            self.sockets[name] = sock
            self.selector.register(sock, selectors.EVENT_READ, lambda: self._on_datagrams(name, sock))
            self.router.interface_up(name, now)
        elif not link.running and name in self.sockets:
            self._close_interface(name)
            self.router.interface_down(name, now)

    def _retry_interfaces(self) -> None:
        self._next_retry = self.clock() + RETRY_INTERVAL
        for name in self.running - set(self.sockets):
            self._on_link(LinkState(self.ifindex[name], name, True))

    def _close_interface(self, name: str) -> None:
        sock = self.sockets.pop(name, None)
        if sock is not None:
            self.selector.unregister(sock)
            sock.close()

    def _on_datagrams(self, name: str, sock: socket.socket) -> None:
        for _ in range(64):  # bounded, so that timers still run under a flood
            try:
                data, (src, _) = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("receive on %s: %s", name, exc)
                return
            try:
                self.router.receive(name, struct.unpack("!I", socket.inet_aton(src))[0], data, self.clock())
            except Exception:  # a bug must not let one packet take the router down
                self.router.stats["rx_internal_errors"] += 1
                log.exception("error handling a packet from %s on %s", src, name)

    def _send(self, ifname: str, dst: int, data: bytes) -> None:
        sock = self.sockets.get(ifname)
        if sock is None:
            return
        try:
            sock.sendto(data, (int_to_ip(dst), self.config.port))
        except OSError as exc:  # e.g. ENETDOWN between the event and our noticing it
            self.router.stats["tx_errors"] += 1
            log.debug("send on %s: %s", ifname, exc)

    # -- kernel routes ----------------------------------------------------------
    def _install(self, table: RouteTable) -> None:
        """Make the kernel hold IPv4 `table`, touching only prefixes that changed."""
        self._sync(self.kernel, self.installed, table)

    def _install6(self, table6: RouteTable) -> None:
        """The same for the IPv6 table."""
        self._sync(self.kernel6, self.installed6, table6)

    def _sync(self, kernel: KernelRoutes, installed: dict[Prefix, KernelNexthops], table: RouteTable) -> None:
        desired: dict[Prefix, KernelNexthops] = {}
        for key, entry in table.items():
            hops = tuple(sorted({KernelNexthop(self.ifindex[nh.iface], nh.gateway)
                                 for nh in entry.nexthops if nh.iface in self.ifindex}))
            if hops:
                desired[key] = hops
        for prefix in [p for p in installed if p not in desired]:
            if self._kernel_call(kernel.delete, prefix, family=kernel.family):
                del installed[prefix]
        for prefix, hops in desired.items():
            if installed.get(prefix) != hops:
                installed.pop(prefix, None)
                if self._kernel_call(kernel.replace, prefix, hops, family=kernel.family):
                    installed[prefix] = hops

    def _kernel_call(self, fn, prefix: Prefix, *args, family: int = socket.AF_INET) -> bool:
        try:
            fn(prefix, *args)
            self.router.stats["kernel_" + fn.__name__ + ("6" if family == socket.AF_INET6 else "")] += 1
            return True
        except (NetlinkError, OSError) as exc:
            self.router.stats["kernel_errors"] += 1
            self._reconcile_after(SETTLE_DELAY)
            log.warning("kernel refused to %s %s: %s", fn.__name__, _text(prefix, family), exc)
            return False

    def _kernel_routes(self, kernel: KernelRoutes) -> dict[Prefix, KernelNexthops]:
        try:
            return kernel.dump()
        except OSError as exc:
            log.warning("cannot list kernel %sroutes: %s", "IPv6 " if kernel.family == socket.AF_INET6 else "", exc)
            return {}

    def _remove_stale_routes(self, kernel: KernelRoutes, what: str) -> None:
        stale = self._kernel_routes(kernel)
        for prefix in stale:
            try:
                kernel.delete(prefix)
            except OSError as exc:
                log.warning("cannot remove stale route %s: %s", _text(prefix, kernel.family), exc)
        if stale:
            log.info("removed %d stale %sroutes of protocol %d", len(stale), what, self.config.route_protocol)

    def _reconcile_after(self, delay: float) -> None:
        self._next_reconcile = min(self._next_reconcile, self.clock() + delay)

    def _reconcile(self) -> None:
        """Compare with what the kernel really has (links going down flush
        routes behind our back) and repair the difference, both families."""
        self._next_reconcile = self.clock() + RECONCILE_INTERVAL
        self.installed = self._kernel_routes(self.kernel)
        self._install(self.router.routes)
        self.installed6 = self._kernel_routes(self.kernel6)
        self._install6(self.router.routes6)


def _text(prefix: Prefix, family: int) -> str:
    return format_prefix6(*prefix) if family == socket.AF_INET6 else format_prefix(*prefix)
