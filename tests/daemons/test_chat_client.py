"""The chat client, scripted and interactive, against a real chat server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from chat_peer import Peer
from daemon_helpers import NODE_DIR, node_env, run_module

from labnode import chatproto
from labnode.chat_client import ChatConnection


@pytest.fixture(scope="module")
def server(module_service):
    return module_service("chat")


def client(server, *args, input=None):
    return run_module("labnode.chat_client", "127.0.0.1", "--port", str(server.port), *args,
                      input=input, timeout=15)


def test_scripted_sends_and_prints_readably(server):
    listener = Peer(server.port, "listener")
    try:
        done = client(server, "--nick", "scripted", "--send", "hi there", "--send", "second")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "* scripted joined"
        assert "<scripted> hi there" in lines and "<scripted> second" in lines
        got = [listener.expect(lambda p: p["type"] == "chat")["message"] for _ in range(2)]
        assert got == ["hi there", "second"]
        assert listener.expect(lambda p: p["type"] == "leave") == {"type": "leave", "nick": "scripted"}
    finally:
        listener.close()


def test_scripted_json_and_wait_prints_what_arrives(server):
    talker = Peer(server.port, "talker")
    proc = subprocess.Popen([sys.executable, "-m", "labnode.chat_client", "127.0.0.1", "--port",
                             str(server.port), "--nick", "waiter", "--wait", "0.5", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=node_env())
    try:
        talker.expect(lambda p: p == {"type": "join", "nick": "waiter"}, timeout=5)
        talker.say("for the waiter")
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        talker.close()
    assert proc.returncode == 0, err
    packets = [json.loads(line) for line in out.splitlines()]
    assert packets[0] == {"type": "join", "nick": "waiter"}
    assert {"type": "chat", "nick": "talker", "message": "for the waiter"} in packets


def test_interactive_reads_stdin_and_quits_on_slash_q(server):
    listener = Peer(server.port, "ear")
    try:
        done = client(server, "--nick", "typist", input="first line\n\nsecond line\n/q\nnever sent\n")
        assert done.returncode == 0, done.stderr
        got = [listener.expect(lambda p: p["type"] == "chat")["message"] for _ in range(2)]
        assert got == ["first line", "second line"]
        listener.expect(lambda p: p["type"] == "leave")
        assert not any(p.get("message") == "never sent" for p in listener.drain())
    finally:
        listener.close()


def test_nick_taken_exits_1_with_reason(server):
    holder = Peer(server.port, "taken")
    try:
        done = client(server, "--nick", "taken", "--send", "x")
        assert done.returncode == 1
        assert "already taken" in done.stderr
    finally:
        holder.close()


def test_unreachable_server_exits_1():
    done = run_module("labnode.chat_client", "127.0.0.1", "--port", "1", "--nick", "n",
                      "--send", "x", timeout=10)
    assert done.returncode == 1 and "cannot connect" in done.stderr


def test_lab_chat_wrapper_runs_from_the_repo(server):
    wrapper = os.path.join(NODE_DIR, "bin", "lab-chat")
    done = subprocess.run([wrapper, "127.0.0.1", "--port", str(server.port), "--nick", "wrapped",
                           "--send", "via wrapper"], capture_output=True, text=True, timeout=15)
    assert done.returncode == 0, done.stderr
    assert "<wrapped> via wrapper" in done.stdout


def test_packets_arriving_with_the_join_are_not_lost():
    """A server that sends join and a chat in one segment: the chat must still
    be seen after join() returns (regression: it was dropped)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        conn = ChatConnection("127.0.0.1", listener.getsockname()[1], timeout=3)
        server, _ = listener.accept()
        with server:
            server.settimeout(3)
            server.sendall(chatproto.encode({"type": "join", "nick": "me"})
                           + chatproto.encode({"type": "chat", "nick": "x", "message": "early"}))
            conn.join("me", timeout=3)
            assert chatproto.Decoder().packets(server.recv(1024)) == [
                {"type": "hello", "nick": "me"}]
            seen = []
            assert conn.until(lambda p: p["type"] == "chat", 1, seen.append)
            assert seen == [{"type": "chat", "nick": "x", "message": "early"}]
        conn.close()
