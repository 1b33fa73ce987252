"""Load generators for the service benchmarks: loopback only, bounded in time.

Shared by bench_http.py and bench_chat.py.  A load generator is one or more
processes (default 2) each running one selector over its share of the
clients; the servers under test run as their own processes.  Run as a script it serves a folder
with Python's ThreadingHTTPServer (the reference the http figures compare
against):  python3 bench/_loadgen.py threading-server PORT ROOT,
or runs the reference chat server:  python3 bench/_loadgen.py threading-chat-server PORT
"""

from __future__ import annotations

import multiprocessing
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(REPO, "images", "node")
if NODE_DIR not in sys.path:
    sys.path.insert(0, NODE_DIR)

from labnode import chatproto  # noqa: E402

# -- processes ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(argv: list[str], port: int, timeout: float = 10.0) -> subprocess.Popen:
    """Start a server process (output discarded) and wait until port accepts."""
    env = dict(os.environ, PYTHONPATH=NODE_DIR, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{argv} did not start listening on {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- HTTP -----------------------------------------------------------------------

class _HttpClient:
    __slots__ = ("sock", "buf", "sent_at", "need")

    def __init__(self) -> None:
        self.sock = None
        self.buf = bytearray()
        self.sent_at = 0.0
        self.need = -1  # bytes of the whole reply once its head is parsed


def _reply_length(buf: bytearray) -> int:
    """Total length of the reply at the start of buf, or -1 if its head is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return -1
    head = bytes(buf[:end]).lower()
    if not head.startswith(b"http/1.1 200"):
        raise ValueError(f"unexpected reply {bytes(buf[:40])!r}")
    start = head.index(b"content-length:") + 15
    stop = head.find(b"\r\n", start)
    return end + 4 + int(head[start:stop if stop >= 0 else len(head)])


def http_load(port: int, path: str, clients: int = 50, duration: float = 3.0,
              keep_alive: bool = True) -> dict:
    """Closed-loop load: each client sends its next request when the last is answered."""
    connection = "keep-alive" if keep_alive else "close"
    request = (f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: {connection}\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    latencies: list[float] = []
    errors = 0

    def open_and_send(client: _HttpClient) -> None:
        nonlocal errors
        while True:
            try:
                if client.sock is None:
                    client.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    client.sock.setblocking(False)
                    sel.register(client.sock, selectors.EVENT_READ, client)
                client.sent_at = time.perf_counter()
                client.sock.sendall(request)
                return
            except OSError:
                errors += 1
                close(client)
                if errors > 1000:
                    raise

    def close(client: _HttpClient) -> None:
        if client.sock is not None:
            sel.unregister(client.sock)
            client.sock.close()
            client.sock = None
        client.buf.clear()
        client.need = -1

    pool = [_HttpClient() for _ in range(clients)]
    started = time.perf_counter()
    end = started + duration
    for client in pool:
        open_and_send(client)
    active = clients
    while active:
        for key, _ in sel.select(1.0):
            client = key.data
            try:
                data = client.sock.recv(262144)
            except OSError:
                data = b""
            if not data:  # closed before the reply was complete
                errors += 1
                close(client)
                if time.perf_counter() < end:
                    open_and_send(client)
                else:
                    active -= 1
                continue
            client.buf += data
            if client.need < 0:
                client.need = _reply_length(client.buf)
            if client.need < 0 or len(client.buf) < client.need:
                continue
            now = time.perf_counter()
            latencies.append(now - client.sent_at)
            del client.buf[:client.need]
            client.need = -1
            if not keep_alive:
                close(client)
            if now < end:
                open_and_send(client)
            else:
                close(client)
                active -= 1
    return {"requests": len(latencies), "errors": errors,
            "seconds": time.perf_counter() - started, "latencies": latencies}


def _http_worker(args) -> dict:
    return http_load(*args)


def http_load_parallel(port: int, path: str, clients: int = 50, duration: float = 3.0,
                       keep_alive: bool = True, procs: int = 2) -> dict:
    """http_load split over `procs` processes (clients shared out), results merged."""
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    with multiprocessing.Pool(procs) as pool:
        parts = pool.map(_http_worker, [(port, path, n, duration, keep_alive) for n in shares])
    latencies = [x for part in parts for x in part["latencies"]]
    seconds = max(part["seconds"] for part in parts)
    return {"requests": len(latencies), "errors": sum(part["errors"] for part in parts),
            "seconds": seconds, "rps": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000}


# -- chat -----------------------------------------------------------------------

class _ChatClient:
    __slots__ = ("index", "sock", "seq", "last_seen", "nick", "raw", "arrivals",
                 "needle", "waiting")

    def __init__(self, index: int, port: int) -> None:
        self.index = index
        self.nick = f"bench{index}"
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seq = 0
        self.last_seen: dict[int, int] = {}  # sender -> last sequence number seen
        self.raw = bytearray()  # everything received while measuring, decoded afterwards
        self.arrivals: list[tuple[int, int]] = []  # (len(raw) after a recv(), its time in ns)
        self.needle = b""       # how our own message in flight looks on the wire
        self.waiting = False    # for it to come back


# The benchmark's own chat messages, "ORIGIN SEQ STAMP", as the server relays
# them.  While measuring, a client only stores what it receives (and when) and
# looks for its own message in flight with one bytes search; the packets are
# cut apart, decoded and checked after the run (_tally).  Decoding each packet
# as it came, with labnode.chatproto's bounded decoder, made the load
# generator, not the server, set the pace with 200 clients.
_RELAYED = re.compile(rb'\{"type":"chat","nick":"bench[0-9]+","message":"([0-9]+) ([0-9]+) ([0-9]+)"\}')


def _tally(client: _ChatClient) -> tuple[int, int, list[float], int]:
    """(deliveries, out of order, latencies in ms, time of the last delivery in
    ns) of what client received."""
    raw, arrivals = client.raw, client.arrivals
    last_seen = client.last_seen
    latencies: list[float] = []
    delivered = out_of_order = last = 0
    pos, size, recv_index = 0, len(raw), 0
    while size - pos >= 2:
        end = pos + 2 + (raw[pos] << 8 | raw[pos + 1])
        if end > size:
            break
        payload = bytes(raw[pos + 2:end])
        pos = end
        match = _RELAYED.fullmatch(payload)
        if match is None:
            if chatproto.decode_payload(payload)["type"] not in ("join", "leave"):
                raise RuntimeError(f"{client.nick} got an unexpected packet {payload[:80]!r}")
            continue
        while arrivals[recv_index][0] < end:  # the recv() that completed this packet
            recv_index += 1
        origin, seq = int(match[1]), int(match[2])
        last = arrivals[recv_index][1]
        latencies.append((last - int(match[3])) / 1e6)
        delivered += 1
        if seq != last_seen.get(origin, 0) + 1:
            out_of_order += 1
        last_seen[origin] = seq
    return delivered, out_of_order, latencies, last


def _chat_worker(port: int, indices: range, senders: int, duration: float, barrier,
                 quiet: float = 1.0, drain: float = 10.0) -> dict:
    """One process's share of the chat clients (see chat_load)."""
    pool = [_ChatClient(i, port) for i in indices]
    for client in pool:
        client.sock.sendall(chatproto.hello(client.nick))
    for client in pool:  # our own join: the server has us in its table
        joined = chatproto.encode({"type": "join", "nick": client.nick})
        while (at := client.raw.find(joined)) < 0:
            data = client.sock.recv(65536)
            if not data:
                raise ConnectionError(f"server closed {client.nick}")
            client.raw += data
        del client.raw[:at + len(joined)]  # what follows starts on a packet boundary
        client.sock.setblocking(False)
    barrier.wait(30)  # every process's clients are in: start together
    sel = selectors.DefaultSelector()
    for client in pool:
        sel.register(client.sock, selectors.EVENT_READ, client)
    latencies: list[float] = []
    sent = delivered = out_of_order = 0

    def send(client: _ChatClient) -> None:
        nonlocal sent
        client.seq += 1
        client.needle = f'"message":"{client.index} {client.seq} '.encode()
        client.waiting = True
        data = chatproto.chat(f"{client.index} {client.seq} {time.perf_counter_ns()}")
        try:
            done = client.sock.send(data)
        except BlockingIOError:
            done = 0
        if done < len(data):  # the socket buffer is full (rare): finish blocking
            client.sock.setblocking(True)
            client.sock.sendall(data[done:])
            client.sock.setblocking(False)
        sent += 1

    started = time.perf_counter()
    started_ns = time.perf_counter_ns()
    end = started + duration
    for client in pool:
        if client.index < senders:
            send(client)
    last_packet = started
    while True:
        now = time.perf_counter()
        if now >= end and (now - last_packet >= quiet or now >= end + drain):
            break
        for key, _ in sel.select(0.1):
            client = key.data
            try:
                data = client.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                continue
            if not data:
                raise ConnectionError(f"server closed {client.nick}")
            arrived = time.perf_counter_ns()
            raw = client.raw
            start = len(raw)
            raw += data
            client.arrivals.append((len(raw), arrived))
            if client.waiting and raw.find(client.needle, max(0, start - len(client.needle))) >= 0:
                client.waiting = False  # our own message is back: the next one
                if time.perf_counter() < end:
                    send(client)
            last_packet = time.perf_counter()
    for client in pool:
        client.sock.close()
    last_delivery = started_ns
    for client in pool:
        counts = _tally(client)
        delivered += counts[0]
        out_of_order += counts[1]
        latencies += counts[2]
        last_delivery = max(last_delivery, counts[3])
    return {"sent": sent, "delivered": delivered, "out_of_order": out_of_order,
            "latencies": latencies, "busy_seconds": (last_delivery - started_ns) / 1e9}


def _chat_entry(results, *args) -> None:
    try:
        results.put(_chat_worker(*args))
    except Exception as exc:  # reported by the parent
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def chat_load(port: int, clients: int = 200, senders: int | None = None,
              duration: float = 3.0, procs: int = 2) -> dict:
    """Clients 0..senders-1 each keep one message in flight (the next goes when
    their own comes back); every client checks it gets every message, in order
    per sender.  The clients are shared out over `procs` processes so the load
    generator is less of a bottleneck than the server."""
    senders = clients if senders is None else senders
    ctx = multiprocessing.get_context("fork")  # the barrier is inherited, not pickled
    barrier = ctx.Barrier(procs)
    results = ctx.Queue()
    bounds = [clients * i // procs for i in range(procs + 1)]
    workers = [ctx.Process(target=_chat_entry, daemon=True,
                           args=(results, port, range(bounds[i], bounds[i + 1]), senders,
                                 duration, barrier)) for i in range(procs)]
    for worker in workers:
        worker.start()
    try:
        parts = [results.get(timeout=duration + 60) for _ in workers]
    finally:
        for worker in workers:
            worker.join(5)
            if worker.is_alive():
                worker.kill()
    failures = [part for part in parts if "error" in part]
    if failures:
        raise RuntimeError(f"chat load generator failed: {failures[0]['error']}")
    sent = sum(part["sent"] for part in parts)
    delivered = sum(part["delivered"] for part in parts)
    latencies = [x for part in parts for x in part["latencies"]]
    seconds = max(part["busy_seconds"] for part in parts)
    return {"clients": clients, "senders": senders, "sent": sent, "expected": sent * clients,
            "delivered": delivered, "lost": sent * clients - delivered,
            "out_of_order": sum(part["out_of_order"] for part in parts),
            "seconds": seconds, "delivered_per_s": delivered / seconds,
            "p50_ms": percentile(latencies, 0.50), "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies, default=float("nan")),
            "mean_ms": statistics.fmean(latencies) if latencies else float("nan")}


# -- the reference server -----------------------------------------------------------

def _threading_server(port: int, root: str) -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like ours (1.0 would close every time)

    handler = functools.partial(Handler, directory=root)
    ThreadingHTTPServer.request_queue_size = 1024
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


def _threading_chat_server(port: int) -> None:
    """The straightforward stdlib chat server, the reference for bench_chat.py:
    socketserver.ThreadingTCPServer, a thread per client, each broadcast
    encoded once and sendall()ed to every client in turn under one lock."""
    import socketserver
    import threading

    lock = threading.Lock()
    clients: dict[str, socket.socket] = {}

    def broadcast(packet: dict) -> None:
        data = chatproto.encode(packet)
        with lock:
            for sock in list(clients.values()):
                try:
                    sock.sendall(data)
                except OSError:
                    pass

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            decoder = chatproto.Decoder()
            nick = None
            try:
                while data := self.request.recv(65536):
                    for packet in decoder.packets(data):
                        if nick is None and packet["type"] == "hello":
                            nick = packet["nick"]
                            with lock:
                                clients[nick] = self.request
                            broadcast({"type": "join", "nick": nick})
                        elif nick is not None and packet["type"] == "chat":
                            broadcast({"type": "chat", "nick": nick, "message": packet["message"]})
            except (OSError, chatproto.ProtocolError):
                pass
            finally:
                if nick is not None:
                    with lock:
                        clients.pop(nick, None)
                    broadcast({"type": "leave", "nick": nick})

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.request_queue_size = 1024
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__" and sys.argv[1:2] == ["threading-server"]:
    _threading_server(int(sys.argv[2]), sys.argv[3])
if __name__ == "__main__" and sys.argv[1:2] == ["threading-chat-server"]:
    _threading_chat_server(int(sys.argv[2]))
