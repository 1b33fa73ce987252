"""The chat server's fan-out: order kept around packets to one client, and
the per-client output bound (a client that does not read is dropped)."""

from __future__ import annotations

import re
import socket
import struct

import pytest
from chat_peer import Peer

from labnode import chatproto
from labnode.chatproto import MAX_PAYLOAD

BACKLOG = 100_000


@pytest.fixture(scope="module")
def server(module_service):
    return module_service("chat", "--max-backlog", str(BACKLOG))


@pytest.fixture
def peers(server):
    made: list[Peer] = []

    def make(nick=None) -> Peer:
        peer = Peer(server.port, nick)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


def chats(packets):
    return [p for p in packets if p["type"] in ("chat", "error", "leave")]


def test_error_to_one_client_keeps_its_place_among_broadcasts(peers):
    alice, bob = peers("fan-alice"), peers("fan-bob")
    alice.expect(lambda p: p == {"type": "join", "nick": "fan-bob"})
    too_long = chatproto.chat("x" * (MAX_PAYLOAD - 40))  # fits a packet, not its relayed form
    alice.send(chatproto.chat("one") + too_long + chatproto.chat("two"))  # one round
    got = [alice.expect(lambda p: p["type"] in ("chat", "error")) for _ in range(3)]
    assert [p.get("message", p["type"]) for p in got] == ["one", "error", "two"]
    assert [p["message"] for p in chats(bob.drain())] == ["one", "two"]


def test_last_broadcasts_reach_a_client_before_its_error_and_close(peers):
    alice, bob = peers("fan-carol"), peers("fan-dave")
    alice.expect(lambda p: p == {"type": "join", "nick": "fan-dave"})
    bob.send(chatproto.chat("last words") + struct.pack("!H", 3) + b"{x}")  # then bad JSON
    got = chats(bob.drain())
    assert [p["type"] for p in got] == ["chat", "error"] and got[0]["message"] == "last words"
    assert bob.closed()
    assert chats(alice.drain()) == [{"type": "chat", "nick": "fan-dave", "message": "last words"},
                                    {"type": "leave", "nick": "fan-dave"}]


def test_hello_and_chat_in_one_packet_batch(server, peers):
    alice = peers("fan-erin")
    frank = Peer(server.port)
    try:
        frank.send(chatproto.hello("fan-frank") + chatproto.chat("hi"))
        got = [frank.expect(lambda p: p["type"] in ("join", "chat")) for _ in range(2)]
        assert got == [{"type": "join", "nick": "fan-frank"},
                       {"type": "chat", "nick": "fan-frank", "message": "hi"}]
        assert [p for p in alice.drain() if p["type"] != "leave"] == got
    finally:
        frank.close()


def test_client_that_does_not_read_is_dropped_and_the_others_hear_it(server, peers):
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it never reads
    slow.connect(("127.0.0.1", server.port))
    try:
        slow.sendall(chatproto.hello("fan-slow"))
        fast = peers("fan-fast")
        message = "y" * 30_000
        for _ in range(600):  # 18 MB for the slow one: far beyond what the kernel buffers
            fast.say(message)
            fast.expect(lambda p: p["type"] == "chat")
            if fast.inbox and any(p == {"type": "leave", "nick": "fan-slow"} for p in fast.inbox):
                break
        fast.expect(lambda p: p == {"type": "leave", "nick": "fan-slow"}, timeout=10)
        server.wait_for(re.escape(f": too slow: more than {BACKLOG} bytes unread"))
        fast.say("still here")
        assert fast.expect(lambda p: p["type"] == "chat")["message"] == "still here"
    finally:
        slow.close()
