"""The Engine API client of the standard library (backend/engineapi.py)
against a small fake engine on a unix socket: lookups, and exec as `docker
exec` does it (made, started with its output framed, its exit code read); the
output framing parser never fails on what the engine could send."""

import http.server
import json
import socketserver
import struct
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.backend.engineapi import EngineAPI, demux
from orchestrator.errors import BackendError


def frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(data)) + data


class FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str):
        self.calls: list[tuple[str, str, object]] = []
        self.containers = {"abc": "running", "stopped": "exited"}
        self.exec_seconds = 0.0
        super().__init__(path, Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def address_string(self):
        return "fake"

    def log_message(self, *args):
        pass

    def answer(self, status: int, body: object = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        engine = self.server
        engine.calls.append(("GET", self.path, None))
        if self.path == "/version":
            return self.answer(200, {"ApiVersion": "1.41"})
        if self.path.startswith("/v1.41/exec/e-abc/json"):
            return self.answer(200, {"ExitCode": 3, "Running": False})
        return self.answer(404, {"message": "no such thing"})

    def do_POST(self):
        engine = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        engine.calls.append(("POST", self.path, body))
        if self.path.endswith("/exec") and self.path.startswith("/v1.41/containers/"):
            name = self.path.split("/")[3]
            if name not in engine.containers:
                return self.answer(404, {"message": f"No such container: {name}"})
            if engine.containers[name] != "running":
                return self.answer(409, {"message": f"Container {name} is not running"})
            return self.answer(201, {"Id": f"e-{name}"})
        if self.path == "/v1.41/exec/e-abc/start":
            time.sleep(engine.exec_seconds)       # the command runs this long
            return self.answer(200, raw=frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"more"))
        return self.answer(404, {"message": "no such exec"})


@pytest.fixture
def engine(tmp_path):
    path = str(tmp_path / "engine.sock")
    server = FakeEngine(path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, EngineAPI(path, timeout=5)
    server.shutdown()
    server.server_close()


def test_exec_makes_starts_and_reads_the_exit_code_of_a_command(engine):
    server, api = engine
    assert api.exec("abc", ["sh", "-c", "exit 3"]) == (3, b"out\nmore", b"err\n")
    posts = [(path, body) for method, path, body in server.calls if method == "POST"]
    assert posts == [("/v1.41/containers/abc/exec", {"AttachStdout": True, "AttachStderr": True,
                                                     "Cmd": ["sh", "-c", "exit 3"]}),
                     ("/v1.41/exec/e-abc/start", {"Detach": False, "Tty": False})]


def test_a_command_may_run_longer_than_the_engine_is_given_to_answer_a_lookup(tmp_path):
    path = str(tmp_path / "slow.sock")
    server = FakeEngine(path)
    server.exec_seconds = 0.6
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = EngineAPI(path, timeout=0.2)
        assert api.exec("abc", ["sleep", "1"]) == (3, b"out\nmore", b"err\n")
    finally:
        server.shutdown()
        server.server_close()


def test_exec_in_a_gone_container_is_none_and_in_a_stopped_one_says_why(engine):
    _, api = engine
    assert api.exec("nope", ["true"]) is None
    with pytest.raises(BackendError, match="running true: Container stopped is not running"):
        api.exec("stopped", ["true"])


def test_demux_splits_the_streams_and_keeps_a_truncated_last_frame():
    assert demux(frame(1, b"a") + frame(2, b"bc") + frame(1, b"d")) == (b"ad", b"bc")
    assert demux(frame(2, b"x") + frame(1, b"hello")[:-2]) == (b"hel", b"x")
    assert demux(b"") == (b"", b"") and demux(b"\x01\x00\x00") == (b"", b"")


@given(st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=64)), max_size=20))
def test_demux_round_trips_any_frames(frames):
    stream = b"".join(frame(k, d) for k, d in frames)
    assert demux(stream) == (b"".join(d for k, d in frames if k == 1), b"".join(d for k, d in frames if k == 2))


@given(st.binary(max_size=512))
def test_demux_never_fails_on_any_bytes(data):
    out, err = demux(data)
    assert len(out) + len(err) <= len(data)


def test_remove_is_safe_to_repeat_and_names_what_failed(engine, monkeypatch):
    server, api = engine

    def do_delete(handler):
        server.calls.append(("DELETE", handler.path, None))
        name = handler.path.split("/")[3].split("?")[0]
        status = {"abc": 204, "gone": 404, "busy": 409}.get(name, 500)
        if status == 204:
            handler.send_response(204)
            handler.end_headers()
            return None
        return handler.answer(status, {"message": f"cannot remove {name}"})

    monkeypatch.setattr(Handler, "do_DELETE", do_delete, raising=False)
    assert api.remove("abc") is True and api.remove("gone") is True and api.remove("busy") is False
    assert ("DELETE", "/v1.41/containers/abc?force=1", None) in server.calls
    with pytest.raises(BackendError, match="removing odd: cannot remove odd"):
        api.remove("odd")
