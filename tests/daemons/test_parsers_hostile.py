"""Every in-node parser of network bytes against depth and size adversaries:
only its documented exception (or a clean "not yet" / rejection value) may
come out, never RecursionError, MemoryError, IndexError, ValueError & co."""

from __future__ import annotations

import json
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labnode import chatproto, httpparse
from labnode.chatproto import MAX_PAYLOAD, Decoder, ProtocolError
from labnode.httpparse import MAX_HEAD, MAX_HEADERS, MAX_LINE, HttpError, Request, parse_request
from labnode.routing import control
from labnode.routing.control import COMMANDS, MAX_REQUEST, RequestError
from labnode.routing.control import parse_request as parse_command
from labnode.webroot import Resolved, WebRoot

FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def deep(depth: int, opener: str = "[") -> bytes:
    return (opener * depth).encode()


# Payloads an attacker would pick: deep nesting (open or closed), huge
# strings, many items, nesting hidden after a valid prefix, broken UTF-8.
adversarial_payloads = st.one_of(
    st.integers(1, MAX_PAYLOAD).map(lambda n: b"[" * n),
    st.integers(1, 20000).map(lambda n: b'{"type":"chat","x":' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 10000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(0, MAX_PAYLOAD - 40).map(lambda n: b'{"type":"chat","message":"' + b"x" * n + b'"}'),
    st.integers(0, 30000).map(lambda n: b"[" + b"0," * n + b"0]"),
    st.integers(0, 30000).map(lambda n: b'{"type":"' + b"\\\\" * n + b'"}'),
    st.binary(max_size=200),
    st.binary(max_size=50).map(lambda b: b'{"type":"chat","message":"' + b),
)


def frame(payload: bytes) -> bytes:
    return struct.pack("!H", len(payload)) + payload


def collect(decoder: Decoder, data: bytes) -> list:
    """Packets decoded, then a ProtocolError as the last item if one was raised."""
    try:
        return decoder.packets(data)
    except ProtocolError as exc:
        return [exc]


@FAST
@given(st.lists(adversarial_payloads.filter(lambda p: len(p) <= MAX_PAYLOAD), min_size=1, max_size=3),
       st.data())
def test_chat_decoder_refuses_hostile_frames_with_protocol_error_only(payloads, data):
    wire = b"".join(frame(p) for p in payloads)
    cut = data.draw(st.integers(0, len(wire)))
    decoder = Decoder()
    got = collect(decoder, wire[:cut]) + collect(decoder, wire[cut:])
    for item in got:
        assert isinstance(item, (dict, ProtocolError))
        if isinstance(item, dict):
            assert isinstance(item.get("type"), str)


@FAST
@given(st.binary(max_size=3000))
def test_chat_decoder_on_random_bytes(data):
    decoder = Decoder()
    for item in collect(decoder, data):
        assert isinstance(item, (dict, ProtocolError))
    assert decoder.pending <= 2 + MAX_PAYLOAD  # an incomplete frame is all it may hold


def test_chat_crash_input_is_a_protocol_error_naming_the_reason():
    with pytest.raises(ProtocolError, match="deeper than"):
        chatproto.decode_payload(b"[" * 30000)
    with pytest.raises(ProtocolError, match="deeper than"):
        Decoder().packets(frame(b'{"type":"chat","message":' + b"[" * 30000 + b"]" * 30000 + b"}"))


# -- HTTP request heads --------------------------------------------------------

header_line = st.tuples(st.text("abcXY-", min_size=1, max_size=10), st.text("v ;=,", max_size=20)).map(
    lambda nv: f"{nv[0]}: {nv[1]}\r\n".encode())
heads = st.one_of(
    st.integers(0, 3 * MAX_LINE).map(lambda n: b"GET /" + b"a" * n + b" HTTP/1.1\r\nHost: t\r\n\r\n"),
    st.integers(0, 3 * MAX_HEADERS).map(lambda n: b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * n + b"\r\n"),
    st.integers(0, 3 * MAX_HEAD).map(lambda n: b"\r\n" * n + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
    st.integers(0, 3 * MAX_HEAD).map(lambda n: b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * n + b"\r\n\r\n"),
    st.integers(0, 40).map(lambda n: b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: " + b"9" * n + b"\r\n\r\n"),
    st.just(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"),
    st.just(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: \xb2\r\n\r\n"),
    st.lists(header_line, max_size=120).map(lambda hs: b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(hs) + b"\r\n"),
    st.binary(max_size=400),
    st.binary(max_size=200).map(lambda b: b"GET / HTTP/1.1\r\n" + b + b"\r\n\r\n"),
)


def parse_or_error(buf: bytes):
    try:
        return parse_request(bytearray(buf))
    except HttpError as exc:
        assert exc.status in httpparse.REASONS and 400 <= exc.status < 600
        return exc


@FAST
@given(heads, st.data())
def test_http_parser_only_raises_http_error_and_never_waits_past_the_limit(head, data):
    cut = data.draw(st.integers(0, len(head)))
    for buf in (head, head[:cut]):
        result = parse_or_error(buf)
        if result is None:  # "not complete yet" is only allowed while within the limit
            assert len(buf) <= MAX_HEAD
        elif not isinstance(result, HttpError):
            request, used = result
            assert isinstance(request, Request) and 0 < used <= len(buf)
            assert len(request.line) <= MAX_LINE and len(request.headers) <= MAX_HEADERS


@pytest.mark.parametrize("buf, status", [
    (b"GET /" + b"[" * 30000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET /" + b"[" * 30000, 414),                                   # no end of line yet
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", 431),
    (b"\r\n" * (MAX_HEAD // 2 + 1), 400),                              # a blank-line flood
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * MAX_HEAD, 431),     # a header that never ends
])
def test_http_limits_and_their_statuses(buf, status):
    assert parse_or_error(buf).status == status


def test_http_limits_leave_normal_requests_alone():
    line = b"GET /" + b"a" * (MAX_LINE - 14) + b" HTTP/1.1"
    assert len(line) == MAX_LINE
    request, _ = parse_request(bytearray(line + b"\r\nHost: t\r\n" + b"X: y\r\n" * (MAX_HEADERS - 1) + b"\r\n"))
    assert len(request.headers) == 2 and request.target.startswith("/aaa")
    assert parse_request(bytearray(b"\r\n" * 100 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"))[0].target == "/"


@pytest.fixture(scope="module")
def webroot(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzzroot")
    root = base / "www"
    (root / "d").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (base / "secret").write_text("s")
    os.symlink(base / "secret", root / "out")
    os.symlink("a.txt", root / "in")
    os.symlink("loop", root / "loop")
    return WebRoot(str(root))


targets = st.one_of(
    st.text(max_size=60).map(lambda t: "/" + t),
    st.text(max_size=40).map(lambda t: "http://" + t),
    st.text("[]:/@%.?#", max_size=30).map(lambda t: "http://" + t),
    st.lists(st.sampled_from(["..", "%2e%2e", ".", "d", "a.txt", "out", "in", "loop", "%00", "%ff", "\\", ""]),
             max_size=8).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=30),
)


@FAST
@given(targets)
def test_webroot_resolves_any_target_or_raises_http_error(webroot, target):
    try:
        found = webroot.resolve(target)
    except HttpError as exc:
        assert exc.status in (400, 403, 404)
        return
    assert isinstance(found, Resolved)
    if found.kind != "redirect":
        assert webroot.inside(found.path)


def test_absolute_target_with_a_broken_host_is_400_not_a_crash(webroot):
    with pytest.raises(HttpError) as info:  # urlsplit raises ValueError here; it used to kill the server
        webroot.resolve("http://[oops/a.txt")
    assert info.value.status == 400


# -- the routing daemon's control socket ---------------------------------------

control_lines = st.one_of(
    st.integers(1, 3 * MAX_REQUEST).map(lambda n: b"[" * n),
    st.integers(1, 3 * MAX_REQUEST).map(lambda n: b'{"command":' + b"[" * n),
    st.integers(0, 3 * MAX_REQUEST).map(lambda n: json.dumps({"command": "x" * n}).encode()),
    st.integers(0, 3 * MAX_REQUEST).map(lambda n: b"[" + b"0," * n + b"0]"),
    st.sampled_from([json.dumps({"command": c}).encode() for c in COMMANDS]),
    st.builds(lambda v: json.dumps({"command": v}).encode(),
              st.recursive(st.none() | st.integers() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                        max_size=3))),
    st.binary(max_size=300),
)


@FAST
@given(control_lines)
def test_control_parser_returns_a_command_or_raises_request_error(line):
    try:
        command = parse_command(line)
    except RequestError as exc:
        assert str(exc)
        return
    assert command in COMMANDS
    assert line == json.dumps({"command": command}).encode()  # the only lines that may pass


def test_control_crash_input_gets_an_error_reply():
    server = control.ControlServer.__new__(control.ControlServer)  # no socket needed for _respond
    server.handle = lambda command: {"answered": command}
    reply = server._respond(b"[" * 30000)
    assert reply["ok"] is False and "longer than" in reply["error"]
    reply = server._respond(b"[" * 3000)
    assert reply["ok"] is False and "deeper than" in reply["error"]
    assert server._respond(b'{"command": "stats"}') == {"ok": True, "data": {"answered": "stats"}}
