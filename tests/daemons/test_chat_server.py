"""The chat service over loopback: joins, broadcasts, framing, hostile clients."""

from __future__ import annotations

import json
import struct
import time

import pytest
from chat_peer import Peer

from labnode import chatproto
from labnode.chatproto import MAX_PAYLOAD


@pytest.fixture(scope="module")
def server(module_service):
    return module_service("chat", "--hello-timeout", "1")


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


def is_error(packet):
    return packet["type"] == "error"


def test_join_chat_leave(peers):
    alice = peers("alice")
    bob = peers("bob")
    assert alice.expect(lambda p: p["type"] == "join") == {"type": "join", "nick": "bob"}
    bob.say("hello alice")
    expected = {"type": "chat", "nick": "bob", "message": "hello alice"}
    assert alice.expect(lambda p: p["type"] == "chat") == expected
    assert bob.expect(lambda p: p["type"] == "chat") == expected  # the sender gets it too
    bob.close()
    assert alice.expect(lambda p: p["type"] == "leave") == {"type": "leave", "nick": "bob"}


def test_unicode_messages_survive(peers):
    a = peers("ünï")
    a.say("héllo ✓ 🎉")
    assert a.expect(lambda p: p["type"] == "chat")["message"] == "héllo ✓ 🎉"


def test_nick_clash_gets_error_and_close(peers):
    first = peers("carol")
    second = peers()
    second.send(chatproto.hello("carol"))
    error = second.expect(is_error)
    assert "taken" in error["reason"]
    assert second.closed()
    first.say("still here")  # the first carol is untouched
    assert first.expect(lambda p: p["type"] == "chat")["message"] == "still here"


def test_nick_is_free_again_after_leaving(peers):
    peers("dave").close()
    time.sleep(0.1)
    peers("dave")  # joins fine


@pytest.mark.parametrize("hello", [
    {"type": "hello"}, {"type": "hello", "nick": ""}, {"type": "hello", "nick": 5},
    {"type": "hello", "nick": "x" * 33}, {"type": "hello", "nick": "bad\nnick"},
])
def test_bad_hello_is_refused(peers, hello):
    peer = peers()
    peer.send(chatproto.encode(hello))
    peer.expect(is_error)
    assert peer.closed()


def test_chat_before_hello_is_refused(peers):
    peer = peers()
    peer.say("who am I")
    assert "expected hello" in peer.expect(is_error)["reason"]
    assert peer.closed()


def test_packets_split_byte_by_byte_and_coalesced(peers):
    watcher = peers("watcher1")
    raw = peers()
    stream = chatproto.hello("trickle") + chatproto.chat("one") + chatproto.chat("two")
    for i in range(len(stream)):
        raw.send(stream[i:i + 1])
        time.sleep(0.001)
    got = [watcher.expect(lambda p: p["type"] == "chat" and p["nick"] == "trickle")["message"]
           for _ in range(2)]
    assert got == ["one", "two"]
    burst = b"".join(chatproto.chat(f"m{i}") for i in range(50))
    raw.send(burst)
    got = [watcher.expect(lambda p: p["type"] == "chat" and p["nick"] == "trickle")["message"]
           for _ in range(50)]
    assert got == [f"m{i}" for i in range(50)]


@pytest.mark.parametrize("garbage", [
    b"\x00\x05hello",                     # not JSON
    b"\x00\x00",                          # empty payload
    b"\x00\x04\xff\xfe\xfd\xfc",          # not UTF-8
    b"\x00\x07[1,2,3]",                   # not an object
    b"\x00\x0c{\"nope\":1}  ",            # no type
    b"GET / HTTP/1.1\r\n\r\n",            # another protocol entirely
    chatproto.encode({"type": "shout", "message": "x"}),
    chatproto.encode({"type": "chat", "message": 42}),
    chatproto.hello("again"),             # a second hello
])
def test_bad_data_disconnects_only_that_client(peers, garbage):
    alice = peers("bystander")
    bad = peers("baddie")
    alice.expect(lambda p: p == {"type": "join", "nick": "baddie"})
    bad.send(garbage)
    if garbage.startswith(b"GET"):  # 0x4745 bytes of payload: it waits for the rest
        bad.send(b"x" * (0x4745 - len(garbage) + 2))
    assert bad.closed()
    assert alice.expect(lambda p: p["type"] == "leave") == {"type": "leave", "nick": "baddie"}
    alice.say("unaffected")
    assert alice.expect(lambda p: p["type"] == "chat")["message"] == "unaffected"


def test_largest_packet_is_accepted(peers):
    watcher = peers("big-watch")
    sender = peers("big-send")
    packet = {"type": "chat", "message": "fits", "pad": ""}
    packet["pad"] = "p" * (MAX_PAYLOAD - len(json.dumps(packet, separators=(",", ":"))))
    data = chatproto.encode(packet)
    assert len(data) == 2 + 65535
    sender.send(data[:30000])
    time.sleep(0.05)
    sender.send(data[30000:])
    assert watcher.expect(lambda p: p["type"] == "chat" and p["nick"] == "big-send") == \
        {"type": "chat", "nick": "big-send", "message": "fits"}


def test_message_too_long_to_relay_is_refused_but_keeps_connection(peers):
    sender = peers("long")
    overhead = len(json.dumps({"type": "chat", "message": ""}, separators=(",", ":")))
    sender.send(chatproto.encode({"type": "chat", "message": "m" * (MAX_PAYLOAD - overhead)}))
    assert "not relayed" in sender.expect(is_error)["reason"]
    sender.say("short one")
    assert sender.expect(lambda p: p["type"] == "chat")["message"] == "short one"


def test_almost_longest_relayable_message_arrives_whole(peers):
    sender = peers("n")
    overhead = len(json.dumps({"type": "chat", "nick": "n", "message": ""}, separators=(",", ":")))
    message = "é" * ((MAX_PAYLOAD - overhead) // 2)
    sender.say(message)
    assert sender.expect(lambda p: p["type"] == "chat", timeout=5)["message"] == message


def test_client_that_never_says_hello_is_dropped(peers):
    silent = peers()
    started = time.monotonic()
    assert "no hello" in silent.expect(is_error, timeout=4)["reason"]
    assert silent.closed()
    assert time.monotonic() - started < 3


def test_half_packet_then_disconnect_does_not_hurt(peers):
    alice = peers("alive")
    bad = peers("half")
    bad.send(struct.pack("!H", 100) + b'{"type":"chat"')
    bad.close()
    assert alice.expect(lambda p: p["type"] == "leave" and p["nick"] == "half")
    alice.say("ok")
    assert alice.expect(lambda p: p["type"] == "chat")["message"] == "ok"


def test_many_clients_each_get_every_message(peers):
    crowd = [peers(f"c{i}") for i in range(40)]
    for i, peer in enumerate(crowd[:10]):
        peer.say(f"from {i}")
    for peer in crowd:
        got = sorted(peer.expect(lambda p: p["type"] == "chat")["message"] for _ in range(10))
        assert got == sorted(f"from {i}" for i in range(10))


def test_server_logs_joins_and_protocol_errors(server, peers):
    peers("logged")
    bad = peers()
    bad.send(b"\x00\x01x")
    bad.expect(is_error)
    server.wait_for(r"joined as 'logged'")
    server.wait_for(r"protocol error: payload is not valid JSON")
