"""Every probe over loopback, through its command line: one JSON object,
exit 0 on success, 1 on failure, 2 on usage errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
from daemon_helpers import NODE_DIR, needs_root, run_module


def probe(*args: str, expect: int | None = None) -> dict:
    done = run_module("labnode.probe", *args, timeout=30)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr  # exactly one JSON object
    result = json.loads(lines[0])
    if expect is not None:
        assert done.returncode == expect, result
    assert result["ok"] is (done.returncode == 0)
    return result


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on, for TCP (or, kind SOCK_DGRAM, UDP: a port
    free for TCP may be a UDP service's, e.g. another test's echo or DNS)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_root
def test_ping_loopback():
    result = probe("ping", "127.0.0.1", "--count", "3", "--interval", "0.05", expect=0)
    assert result["sent"] == result["received"] == 3
    assert result["loss"] == 0.0 and result["bad_checksum"] == 0
    assert len(result["rtt_ms"]) == 3
    assert result["min"] <= result["avg"] <= result["max"] < 1000


@needs_root
def test_traceroute_loopback_is_one_hop():
    for method in ("udp", "icmp"):
        result = probe("traceroute", "127.0.0.1", "--method", method, expect=0)
        assert result["hops"] == ["127.0.0.1"] and result["reached"] is True


def test_tcp_open_and_closed_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = probe("tcp", "127.0.0.1", str(port), expect=0)
        assert result["state"] == "open" and result["open"] == [port]
    closed = free_port()
    result = probe("tcp", "127.0.0.1", str(closed), expect=1)
    assert result["state"] == "closed" and "closed" in result["error"]


def test_tcp_scan_reports_every_port():
    listeners = []
    try:
        for _ in range(2):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            listeners.append(sock)
        open_ports = sorted(s.getsockname()[1] for s in listeners)
        closed = free_port()
        spec = ",".join(str(p) for p in open_ports + [closed])
        result = probe("tcp", "127.0.0.1", spec, expect=0)
        assert result["ports"] == {**{str(p): "open" for p in open_ports}, str(closed): "closed"}
        assert result["open"] == open_ports
    finally:
        for sock in listeners:
            sock.close()


def test_tcp_scan_of_a_range_is_fast():
    result = probe("tcp", "127.0.0.1", "40000-40999", "--timeout", "2")
    assert len(result["ports"]) == 1000
    assert set(result["ports"].values()) <= {"open", "closed"}
    assert result["time_ms"] < 3000


@pytest.fixture(scope="module")
def web(module_service, tmp_path_factory):
    root = tmp_path_factory.mktemp("probe-www")
    (root / "index.html").write_text("<p>probe me</p>\n")
    return module_service("http", "--root", str(root))


def test_http_probe(web):
    url = f"http://127.0.0.1:{web.port}/"
    result = probe("http", url, "--contains", "probe me", expect=0)
    assert result["status"] == 200 and result["body_length"] == len("<p>probe me</p>\n")
    assert result["headers"]["content-type"] == "text/html; charset=utf-8"
    assert result["contains"] is True and result["time_ms"] > 0
    assert probe("http", url, "--contains", "absent", expect=1)["contains"] is False
    missing = probe("http", f"127.0.0.1:{web.port}/missing", expect=1)
    assert missing["status"] == 404 and "404" in missing["error"]
    assert probe("http", f"127.0.0.1:{web.port}/missing", "--status", "404", expect=0)["ok"]


def test_http_probe_connection_refused():
    result = probe("http", f"http://127.0.0.1:{free_port()}/", expect=1)
    assert "refused" in result["error"].lower()


def test_chat_probe(module_service):
    chat = module_service("chat")
    result = probe("chat", "127.0.0.1", "--port", str(chat.port), expect=0)
    assert result["joined"] and result["echoed"] and result["nick"].startswith("probe-")
    named = probe("chat", "127.0.0.1", "--port", str(chat.port), "--nick", "p1",
                  "--message", "hello from the probe", expect=0)
    assert named["nick"] == "p1"
    chat.wait_for(r"<p1> hello from the probe")


def test_chat_probe_against_something_else_fails(module_service):
    echo = module_service("select_server")  # echoes our hello back: not a chat server
    result = probe("chat", "127.0.0.1", "--port", str(echo.port), "--timeout", "0.5", expect=1)
    assert result["joined"] is False and "join" in result["error"]


def test_udp_probe(module_service):
    echo = module_service("udp_echo")
    result = probe("udp", "127.0.0.1", str(echo.port), "--count", "3", expect=0)
    assert result["sent"] == result["received"] == 3 and len(result["rtt_ms"]) == 3
    closed = probe("udp", "127.0.0.1", str(free_port(socket.SOCK_DGRAM)), expect=1)
    assert closed["error"] == "port unreachable"


@pytest.mark.parametrize("args", [
    [], ["bogus"], ["ping"], ["tcp", "127.0.0.1"], ["tcp", "127.0.0.1", "0"],
    ["tcp", "127.0.0.1", "90-80"], ["tcp", "127.0.0.1", "http"], ["ping", "x", "--count", "0"],
    ["udp", "127.0.0.1", "notaport"], ["traceroute", "127.0.0.1", "--max-hops", "256"],
])
def test_usage_errors_are_json_with_exit_2(args):
    result = probe(*args, expect=2)
    assert result["ok"] is False and result["error"]


@needs_root
def test_lab_probe_wrapper_runs_from_the_repo():
    done = subprocess.run([os.path.join(NODE_DIR, "bin", "lab-probe"), "ping", "127.0.0.1",
                           "-c", "1"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0 and json.loads(done.stdout)["received"] == 1


def test_a_batch_of_probes_of_every_kind_at_once_runs_each_one():
    """The runner's batch script (one process, a thread per probe) with probes of
    several kinds started together: each gives its own result, none an
    'internal error' from two threads importing one probe module at once."""
    import sys

    from orchestrator.verify.probes import _BATCH
    closed = str(free_port())
    jobs = [["tcp", "127.0.0.1", closed, "--timeout", "0.2"], ["udp", "127.0.0.1", closed, "--timeout", "0.2"],
            ["http", f"http://127.0.0.1:{closed}/", "--timeout", "0.2"],
            ["dns", "x.lab", "--server", "127.0.0.1", "--timeout", "0.2"],
            ["chat", "127.0.0.1", "--port", closed, "--timeout", "0.2"],
            ["traceroute", "127.0.0.1", "--max-hops", "1", "--timeout", "0.2"]] * 4
    env = {**os.environ, "PYTHONPATH": str(NODE_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(5):   # fresh interpreters: the imports happen in each one again
        done = subprocess.run([sys.executable, "-c", _BATCH, json.dumps(jobs)], capture_output=True, text=True,
                              timeout=60, env=env)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert len(out) == len(jobs)
        errors = [r for _, r, _ in out if "internal error" in str(r.get("error", ""))]
        assert errors == [], errors
