"""Small helpers shared by the services: arguments, sockets, stopping, logging."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from collections.abc import Callable


class Stopped(BaseException):
    """Raised by the SIGTERM/SIGINT handler to leave a service's loop.

    A BaseException so that no `except Exception` in a loop swallows it.
    """


def service_parser(prog: str, description: str, default_port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=default_port,
                        help=f"port to listen on (default {default_port}; 0 picks a free one)")
    parser.add_argument("--bind", default="0.0.0.0",
                        help="address to listen on (default 0.0.0.0; '::' for IPv6 and IPv4)")
    return parser


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def listen(bind: str, port: int, kind: int = socket.SOCK_STREAM, backlog: int = 1024) -> socket.socket:
    """A bound (and, for TCP, listening) non-blocking socket."""
    family = family_of(bind)
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and bind in ("::", "::0"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack
        sock.bind((bind, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def unmapped(host: str) -> str:
    """An IPv4 client of a dual-stack socket ('::ffff:10.0.1.2') as itself ('10.0.1.2')."""
    if host.startswith("::ffff:") and "." in host:
        return host[len("::ffff:"):]
    return host


def endpoint(addr) -> str:
    """'1.2.3.4:80' or '[::1]:80' for a socket address tuple (an IPv4 peer of a
    dual-stack socket shown as IPv4)."""
    host, port = unmapped(addr[0]), addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def peer(addr) -> str:
    """The classic "(addr, port)" form of a peer, e.g. "('10.0.1.2', 40312)"."""
    return repr((unmapped(addr[0]), addr[1]))


def short(value, limit: int = 60) -> str:
    """repr(value), cut to about `limit` characters: client data in a log line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def describe_error(exc: BaseException) -> str:
    """An unexpected exception as one short log fragment: "KeyError: 'x'"."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


_pending: list[str] = []


def log(message: str, flush: bool = True) -> None:
    """One line to stdout (the supervisor timestamps each line).

    Busy event loops pass flush=False and call flush_log() once per round:
    one write() for many lines, whatever stdout's buffering (the supervisor
    runs children with PYTHONUNBUFFERED=1).
    """
    _pending.append(message + "\n")
    if flush:
        flush_log()


def log_pending() -> bool:
    """Whether log(..., flush=False) lines are waiting for flush_log()."""
    return bool(_pending)


def flush_log() -> None:
    if _pending:
        sys.stdout.write("".join(_pending))
        _pending.clear()
    sys.stdout.flush()


def _raise_stopped(signum, frame):
    raise Stopped(signal.Signals(signum).name)


def run(name: str, main: Callable[[], None]) -> int:
    """Run a service's main loop until SIGTERM/SIGINT; return the exit code.

    Startup errors (port in use, missing root, ...) print one line to stderr
    and return 1, so the supervisor logs them and retries with backoff.
    """
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    try:
        main()
    except Stopped as stop:
        log(f"{name}: stopping on {stop}")
        return 0
    except OSError as exc:
        flush_log()
        print(f"{name}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


ACCEPT_BATCH = 64  # connections accepted per wakeup


def accept_ready(listener: socket.socket, nodelay: bool = False, batch: int = ACCEPT_BATCH):
    """Yield (socket, address) for the connections waiting on a non-blocking
    listener, each set non-blocking; at most `batch` per call, so that
    established clients get their turn too. An accept error (out of file
    descriptors, say) is logged and the rest wait for the next round."""
    for _ in range(batch):
        try:
            sock, addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log(f"accept failed: {exc}")
            return
        sock.setblocking(False)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        yield sock, addr
