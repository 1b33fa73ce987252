"""Stacks on an in-memory wire with a hand-driven clock, for the unit tests.

MemDevice is a device for core.Stack: write() records frames, nothing is
ever read from it.  Wire joins two stacks: pump() carries every recorded
frame to the other stack (optionally through a `drop(frame)` filter) until
nothing moves; advance(seconds) moves the clock and runs due timers.
"""
from __future__ import annotations

import ipaddress

from labnode.stack import core, ethernet


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class MemDevice:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def fileno(self) -> int:
        return -1

    def read(self):
        return None

    def write(self, frame: bytes) -> bool:
        self.sent.append(frame)
        return True


MAC_A = ethernet.parse_mac("02:00:00:00:00:0a")
MAC_B = ethernet.parse_mac("02:00:00:00:00:0b")


def make_stack(mac=MAC_A, address="10.0.0.1/24", clock=None, log=None, **kw) -> core.Stack:
    return core.Stack(MemDevice(), mac, ipaddress.IPv4Interface(address), clock=clock or Clock(),
                      seed=7, log=log or (lambda _m: None), **kw)


class Wire:
    def __init__(self, **kw) -> None:
        self.clock = Clock()
        self.a = make_stack(MAC_A, "10.0.0.1/24", self.clock, **kw)
        self.b = make_stack(MAC_B, "10.0.0.2/24", self.clock, **kw)
        self.drop = None
        self.log: list[tuple[str, bytes]] = []

    def pump(self, limit: int = 100000) -> int:
        moved = 0
        while moved < limit:
            busy = False
            for src, dst, name in ((self.a, self.b, "a>b"), (self.b, self.a, "b>a")):
                frames, src.device.sent = src.device.sent, []
                for frame in frames:
                    busy = True
                    moved += 1
                    self.log.append((name, frame))
                    if self.drop is None or not self.drop(name, frame):
                        dst.receive_frame(frame)
                dst.flush_acks()
            if not busy:
                break
        return moved

    def advance(self, seconds: float) -> None:
        self.clock.t += seconds
        self.a.run_timers()
        self.b.run_timers()
        self.pump()
