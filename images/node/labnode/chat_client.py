"""The chat client: interactive, or scripted for tests and probes.

    python3 -m labnode.chat_client HOST [--port 5000] [--nick N]
        interactive: each stdin line is sent as a chat message, "/q" (or end
        of input) quits; what arrives is printed as it comes:
            * alice joined / <alice> hi all / * alice left / ! error: ...
    python3 -m labnode.chat_client HOST --nick N --send "hi" [--send ...] [--wait S]
        scripted: join, send each message, wait until they have come back
        (at most --timeout s), print what arrives for --wait s more, exit.
    --json prints every packet received as one JSON line instead.

Exit status: 0 fine, 1 connection or protocol trouble (e.g. nick taken), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import sys
import time

from labnode import chatproto


class ChatError(Exception):
    """The server refused us, closed on us, or could not be reached."""


class ChatConnection:
    def __init__(self, host: str, port: int = chatproto.DEFAULT_PORT, timeout: float = 5.0) -> None:
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ChatError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = chatproto.Decoder()
        self.backlog: list[dict] = []  # received but not handed out yet
        self.closed = False

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ChatError(f"send failed: {exc.strerror or exc}") from None

    def receive(self, timeout: float) -> list[dict]:
        """Packets arriving within timeout (maybe none); ChatError once closed."""
        if self.backlog:
            packets, self.backlog = self.backlog, []
            return packets
        if self.closed:
            raise ChatError("connection closed by the server")
        self.sock.settimeout(max(timeout, 0.0001))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return []
        except OSError as exc:
            raise ChatError(f"receive failed: {exc.strerror or exc}") from None
        if not data:
            self.closed = True
            packets = self.decoder.packets()
            if packets:
                return packets
            raise ChatError("connection closed by the server")
        try:
            return self.decoder.packets(data)
        except chatproto.ProtocolError as exc:
            raise ChatError(f"bad data from the server: {exc}") from None

    def until(self, done, timeout: float, on_packet=None) -> bool:
        """Receive until done(packet) is true for one packet, or timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 or self.backlog:
            packets = self.receive(left)
            for index, packet in enumerate(packets):
                if on_packet:
                    on_packet(packet)
                if done(packet):
                    self.backlog = packets[index + 1:] + self.backlog  # for the next call
                    return True
        return False

    def join(self, nick: str, timeout: float = 5.0, on_packet=None) -> None:
        """Say hello and wait for our own join (ChatError if refused)."""
        self.send(chatproto.hello(nick))

        def joined(packet: dict) -> bool:
            if packet["type"] == "error":
                raise ChatError(f"server refused: {packet.get('reason')}")
            return packet["type"] == "join" and packet.get("nick") == nick

        if not self.until(joined, timeout, on_packet):
            raise ChatError(f"no join confirmation within {timeout:g}s")


def printer(as_json: bool):
    def show(packet: dict) -> None:
        text = json.dumps(packet, ensure_ascii=False) if as_json else chatproto.describe(packet)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    return show


def scripted(conn: ChatConnection, nick: str, messages: list[str], wait: float,
             timeout: float, show) -> int:
    mine = []

    def on_packet(packet: dict) -> None:
        show(packet)
        if packet["type"] == "chat" and packet.get("nick") == nick:
            mine.append(packet.get("message"))

    for text in messages:
        conn.send(chatproto.chat(text))
    if messages and not conn.until(lambda p: len(mine) >= len(messages), timeout, on_packet):
        print(f"lab-chat: only {len(mine)} of {len(messages)} messages came back", file=sys.stderr)
        return 1
    conn.until(lambda p: False, wait, on_packet)
    return 0


def interactive(conn: ChatConnection, show) -> int:
    sel = selectors.DefaultSelector()
    sel.register(conn.sock, selectors.EVENT_READ, "net")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "tty")
    pending = b""
    if conn.backlog:  # arrived together with our join
        for packet in conn.receive(0):
            show(packet)
    while True:
        for key, _ in sel.select():
            if key.data == "net":
                for packet in conn.receive(0.5):
                    show(packet)
                continue
            chunk = os.read(key.fd, 4096)
            if not chunk:
                return 0  # end of input: like /q
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if line.strip() == "/q":
                    return 0
                if line.strip():
                    try:
                        conn.send(chatproto.chat(line))
                    except chatproto.ProtocolError as exc:
                        print(f"! not sent: {exc}", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lab-chat", description="chat client")
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=chatproto.DEFAULT_PORT)
    parser.add_argument("--nick", default=socket.gethostname(), help="default: the host name")
    parser.add_argument("--send", action="append", default=[], metavar="TEXT",
                        help="send this message (repeatable); makes the client scripted")
    parser.add_argument("--wait", type=float, default=None, metavar="S",
                        help="scripted: print what arrives for S more seconds, then exit")
    parser.add_argument("--timeout", type=float, default=5.0, help="connect/join/echo timeout")
    parser.add_argument("--json", action="store_true", help="print packets as JSON lines")
    args = parser.parse_args(argv)
    show = printer(args.json)
    try:
        conn = ChatConnection(args.host, args.port, args.timeout)
        try:
            conn.join(args.nick, args.timeout, show)
            if args.send or args.wait is not None:
                return scripted(conn, args.nick, args.send, args.wait or 0.0, args.timeout, show)
            return interactive(conn, show)
        finally:
            conn.close()
    except ChatError as exc:
        print(f"lab-chat: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
