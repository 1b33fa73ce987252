"""One stack driven by hand-written segments from a pretend peer.

Peer.send() wraps a TCP segment in IPv4 and Ethernet from 10.0.0.2 and
feeds it to the stack; Peer.take() returns the TCP segments the stack has
sent since the last call (ARP for the peer is pre-learnt).
"""
from __future__ import annotations

from memnet import MAC_B, make_stack

from labnode.stack import ethernet, ipv4, tcp

PEER_IP = ipv4.packed("10.0.0.2")
STACK_IP = ipv4.packed("10.0.0.1")


class Peer:
    def __init__(self, **kw) -> None:
        self.logs: list[str] = []
        self.stack = make_stack(log=self.logs.append, **kw)
        self.clock = self.stack.now
        self.stack.arp.learn(PEER_IP, MAC_B, self.clock(), add=True)
        self.port = 40000

    def send(self, flags: int, seq: int, ack: int = 0, payload: bytes = b"", window: int = 65535,
             mss: int | None = None, dport: int = 80, sport: int | None = None) -> None:
        seg = tcp.Segment(sport or self.port, dport, seq % (1 << 32), ack % (1 << 32), flags, window, mss, payload)
        packet = ipv4.build(PEER_IP, STACK_IP, ipv4.PROTO_TCP, seg.encode(PEER_IP, STACK_IP), 1)
        self.stack.receive_frame(ethernet.build(self.stack.mac, MAC_B, ethernet.TYPE_IPV4, packet))
        self.stack.flush_acks()

    def take(self) -> list[tcp.Segment]:
        out = []
        for frame in self.stack.device.sent:
            _dst, _src, kind, payload = ethernet.parse(frame)
            if kind == ethernet.TYPE_IPV4:
                packet = ipv4.parse(payload)
                if packet.proto == ipv4.PROTO_TCP:
                    out.append(tcp.parse(packet.src, packet.dst, packet.payload))
        self.stack.device.sent.clear()
        return out

    def advance(self, seconds: float) -> None:
        self.clock.t += seconds
        self.stack.run_timers()
