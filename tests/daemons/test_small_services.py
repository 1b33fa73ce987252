"""The select server and UDP echo over loopback."""

from __future__ import annotations

import re
import socket
import time

import pytest
from daemon_helpers import run_module


@pytest.fixture(scope="module")
def select_server(module_service):
    return module_service("select_server")


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    sock.settimeout(3)
    return sock


def test_select_logs_connect_chunks_disconnect_and_echoes(select_server):
    with connect(select_server.port) as sock:
        me = re.escape(repr(("127.0.0.1", sock.getsockname()[1])))
        select_server.wait_for(me + r": connected$")
        sock.sendall(b"hello\n")
        assert sock.recv(100) == b"hello\n"
        select_server.wait_for(me + re.escape(r": received 6 bytes: b'hello\n'"))
    select_server.wait_for(me + r": disconnected$")


def test_select_serves_many_clients_at_once(select_server):
    socks = [connect(select_server.port) for _ in range(60)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(f"client {i}".encode())
        for i, sock in enumerate(socks):
            assert sock.recv(100) == f"client {i}".encode()
    finally:
        for sock in socks:
            sock.close()


def test_select_client_that_never_reads_does_not_block_others(select_server):
    hog = connect(select_server.port)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.setblocking(False)
    try:
        blob = b"z" * 65536
        for _ in range(20):
            try:
                hog.send(blob)
            except BlockingIOError:
                break
        started = time.monotonic()
        with connect(select_server.port) as other:
            other.sendall(b"ping")
            assert other.recv(10) == b"ping"
        assert time.monotonic() - started < 1
    finally:
        hog.close()


def test_select_no_echo_only_logs(start_service):
    server = start_service("select_server", "--no-echo")
    with connect(server.port) as sock:
        sock.sendall(b"quiet")
        server.wait_for(r"received 5 bytes: b'quiet'")
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(10)


@pytest.fixture(scope="module")
def udp_server(module_service):
    return module_service("udp_echo")


def test_udp_echo_returns_datagrams_and_logs(udp_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        for payload in [b"one", b"", b"x" * 60000]:
            sock.sendto(payload, ("127.0.0.1", udp_server.port))
            data, addr = sock.recvfrom(65535)
            assert data == payload and addr == ("127.0.0.1", udp_server.port)
        me = re.escape(repr(("127.0.0.1", sock.getsockname()[1])))
    udp_server.wait_for(me + r": echoed 60000 bytes")


def test_port_in_use_is_a_startup_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_module("labnode.services.select_server", "--bind", "127.0.0.1",
                          "--port", str(port), timeout=10)
    assert done.returncode == 1
    assert "Address already in use" in done.stderr
