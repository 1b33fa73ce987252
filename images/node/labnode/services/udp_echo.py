"""UDP echo: every datagram goes back to its sender unchanged.

Logs one line per datagram: "('10.0.1.2', 40312): echoed 12 bytes".  It
parses nothing; a datagram is at most MAX_DATAGRAM bytes, and an unexpected
error with one datagram is logged in one line and costs only that datagram.
"""

from __future__ import annotations

import selectors
import socket

from labnode import contract
from labnode.netutil import describe_error, endpoint, listen, log, peer, run, service_parser

MAX_DATAGRAM = 65535


def serve(sock: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    while True:
        sel.select()
        while True:  # drain everything queued before sleeping again
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP error from an earlier reply
                log(f"receive error: {exc}")
                continue
            try:
                echo(sock, data, addr)
            except Exception as exc:  # one datagram's problem, never the server's
                log(f"{peer(addr)}: datagram dropped: {describe_error(exc)}")


def echo(sock: socket.socket, data: bytes, addr) -> None:
    """Send one datagram back to where it came from, and log it."""
    try:
        sock.sendto(data, addr)
    except OSError as exc:
        log(f"{peer(addr)}: cannot echo {len(data)} bytes: {exc}")
        return
    log(f"{peer(addr)}: echoed {len(data)} bytes")


def main(argv=None) -> int:
    parser = service_parser("udp-echo", "UDP echo server", 7)
    args = parser.parse_args(argv)

    def run_server() -> None:
        sock = listen(args.bind, args.port, kind=socket.SOCK_DGRAM)
        log(f"udp-echo {contract.READY_LINE} {endpoint(sock.getsockname())}")
        serve(sock)

    return run("udp-echo", run_server)


if __name__ == "__main__":
    raise SystemExit(main())
