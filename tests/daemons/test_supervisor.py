"""The supervisor: starting services, logs, status, restarts with backoff, stopping."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from daemon_helpers import NODE_DIR, Proc, run_module
from http_client import get

from labnode import supervisor as sup
from labnode.svconfig import ServiceSpec, build, flags, load


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


class Run:
    """A supervisor subprocess with its config, log dir and pidfile in tmp_path."""

    def __init__(self, tmp_path, services: list[dict]) -> None:
        self.config = tmp_path / "services.json"
        self.config.write_text(json.dumps({"services": services}))
        self.logdir = tmp_path / "log"
        self.pidfile = tmp_path / "sup.pid"
        self.proc = Proc([sys.executable, "-m", "labnode.supervisor", "--config", str(self.config),
                          "--logdir", str(self.logdir), "--pidfile", str(self.pidfile)])

    def status(self) -> dict:
        try:
            return json.loads((self.logdir / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def wait(self, predicate, timeout: float = 6.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status and predicate(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"status never matched: {self.status()}\n{self.log('supervisor')}")

    def log(self, name: str) -> str:
        try:
            return (self.logdir / f"{name}.log").read_text()
        except OSError:
            return ""

    def wait_log(self, name: str, pattern: str, timeout: float = 6.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log(name), re.M)
            if match:
                return match
            time.sleep(0.05)
        raise AssertionError(f"{name}.log never matched {pattern!r}:\n{self.log(name)}")

    def terminate(self, timeout: float = 6.0) -> int:
        self.proc.proc.send_signal(signal.SIGTERM)
        return self.proc.proc.wait(timeout)


@pytest.fixture
def supervise(tmp_path):
    runs: list[Run] = []

    def start(services: list[dict]) -> Run:
        run = Run(tmp_path, services)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.proc.poll() is None:
            run.proc.proc.kill()
            run.proc.proc.wait()
        for service in run.status().get("services", {}).values():
            if service.get("pid"):
                try:
                    os.killpg(service["pid"], signal.SIGKILL)
                except OSError:
                    pass


def running(*names):
    return lambda status: all(status["services"][n]["state"] == "running" for n in names)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is not alive
        return handle.read().split(") ")[1][0] != "Z"


def test_runs_every_service_with_logs_status_and_pidfile(supervise, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("supervised\n")
    local = {"port": 0, "bind": "127.0.0.1"}  # port 0: no race for ports; read them from the logs
    run = supervise([
        {"name": "web", "type": "http", "args": {**local, "root": str(root)}},
        {"name": "chat", "type": "chat", "args": local},
        {"name": "echo", "type": "udp-echo", "args": local},
        {"type": "select", "args": local},
        {"name": "oops", "type": "bogus"},
    ])
    status = run.wait(running("web", "chat", "echo", "select"))
    assert status["state"] == "running" and status["supervisor_pid"] == run.proc.proc.pid
    assert run.pidfile.read_text().strip() == str(run.proc.proc.pid)
    assert status["services"]["oops"]["state"] == "failed"
    assert "unknown type 'bogus'" in status["services"]["oops"]["error"]
    assert "unknown type 'bogus'" in run.log("supervisor")
    ports = {}
    for name in ("web", "chat", "echo", "select"):
        assert status["services"][name]["restarts"] == 0 and status["services"][name]["pid"] > 0
        ports[name] = int(run.wait_log(name, r"listening on 127\.0\.0\.1:(\d+)")[1])
    http_port, udp_port = ports["web"], ports["echo"]
    assert get(http_port, "/").body == b"supervised\n"
    line = run.wait_log("web", r'^(\S+) 127\.0\.0\.1:\d+ "GET / HTTP/1\.1" 200 11$')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line[1])
    with socket.create_connection(("127.0.0.1", ports["select"]), timeout=3):
        run.wait_log("select", r"\('127\.0\.0\.1', \d+\): connected")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"hi", ("127.0.0.1", udp_port))
        assert sock.recv(10) == b"hi"
    assert run.terminate() == 0


def test_crashing_service_restarts_with_growing_backoff(supervise):
    run = supervise([{"name": "crash", "type": "command",
                      "command": python_command("import sys; print('boom'); sys.exit(3)")}])
    status = run.wait(lambda s: s["services"]["crash"]["restarts"] >= 3, timeout=8)
    assert status["services"]["crash"]["last_exit"] == 3
    log = run.log("supervisor")
    for delay in ("0.2s", "0.4s", "0.8s"):
        assert "crash: exited with code 3 after" in log and f"restarting in {delay}" in log
    starts = [time.mktime(time.strptime(m[0], "%Y-%m-%dT%H:%M:%S")) + float("0." + m[1])
              for m in re.findall(r"^(\S+)\.(\d{3})Z \[supervisor\] (?:re)?started", run.log("crash"),
                                  re.M)]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(gaps) >= 3
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.8
    assert gaps[2] > gaps[1] > gaps[0]
    assert run.log("crash").count("boom") >= 3
    run.terminate()


def test_killed_service_comes_back(supervise):
    port = free_port()
    run = supervise([{"name": "chat", "type": "chat", "args": {"port": port, "bind": "127.0.0.1"}}])
    first = run.wait(running("chat"))["services"]["chat"]["pid"]
    run.wait_log("chat", "listening")
    os.kill(first, signal.SIGKILL)
    status = run.wait(lambda s: s["services"]["chat"]["restarts"] == 1 and running("chat")(s))
    assert status["services"]["chat"]["pid"] != first
    assert status["services"]["chat"]["last_exit"] == -9
    assert "killed by SIGKILL" in run.log("supervisor")
    run.wait_log("chat", "listening.*\n(?:.*\n)*.*listening")  # listening again
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass
    run.terminate()


def test_sigterm_stops_all_children_and_cleans_up(supervise):
    run = supervise([
        {"name": "one", "type": "udp-echo", "args": {"port": 0, "bind": "127.0.0.1"}},
        {"name": "two", "type": "command", "command": python_command("import time; time.sleep(60)")},
    ])
    status = run.wait(running("one", "two"))
    pids = [status["services"][n]["pid"] for n in ("one", "two")]
    run.wait_log("one", "listening")  # its SIGTERM handler is in place
    started = time.monotonic()
    assert run.terminate() == 0
    assert time.monotonic() - started < 3
    assert not any(alive(pid) for pid in pids)
    final = run.status()
    assert final["state"] == "stopped"
    assert {s["state"] for s in final["services"].values()} == {"stopped"}
    assert final["services"]["one"]["last_exit"] == 0            # exited on its own SIGTERM
    assert final["services"]["two"]["last_exit"] == -signal.SIGTERM
    assert not run.pidfile.exists()
    assert "udp-echo: stopping on SIGTERM" in run.log("one")


def test_child_ignoring_sigterm_gets_sigkill(supervise):
    stubborn = python_command("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                              "print('ready', flush=True)\ntime.sleep(60)")
    run = supervise([{"name": "stubborn", "type": "command", "command": stubborn}])
    pid = run.wait(running("stubborn"))["services"]["stubborn"]["pid"]
    run.wait_log("stubborn", "ready")
    started = time.monotonic()
    assert run.terminate() == 0
    assert 1.9 < time.monotonic() - started < 4
    assert not alive(pid)
    assert "still running after 2s, SIGKILL" in run.log("supervisor")
    assert run.status()["services"]["stubborn"]["last_exit"] == -signal.SIGKILL


def test_partial_last_line_and_stderr_are_logged(supervise):
    code = "import sys; print('out line'); print('err line', file=sys.stderr); " \
           "sys.stdout.write('no newline'); sys.stdout.flush(); sys.exit(0)"
    run = supervise([{"name": "talk", "type": "command", "command": python_command(code)}])
    run.wait_log("talk", "no newline")
    log = run.log("talk")
    assert re.search(r"Z out line$", log, re.M) and re.search(r"Z err line$", log, re.M)
    run.terminate()


def test_missing_program_is_retried_not_fatal(supervise):
    run = supervise([{"name": "ghost", "type": "command", "command": ["/nonexistent/prog"]},
                     {"name": "fine", "type": "udp-echo", "args": {"port": 0, "bind": "127.0.0.1"}}])
    status = run.wait(lambda s: s["services"]["ghost"]["restarts"] >= 1 and running("fine")(s))
    assert status["services"]["ghost"]["last_exit"] == 127
    assert "cannot start /nonexistent/prog" in run.log("supervisor")
    run.terminate()


def test_bad_config_is_an_error(tmp_path):
    config = tmp_path / "services.json"
    config.write_text("{not json")
    done = run_module("labnode.supervisor", "--config", str(config), "--logdir",
                      str(tmp_path / "log"), "--pidfile", str(tmp_path / "p.pid"), timeout=10)
    assert done.returncode == 1
    assert "not valid JSON" in (tmp_path / "log" / "supervisor.log").read_text()


def test_lab_supervisor_wrapper_runs_from_the_repo(tmp_path):
    wrapper = os.path.join(NODE_DIR, "bin", "lab-supervisor")
    done = subprocess.run([wrapper, "--config", str(tmp_path / "missing.json"), "--logdir",
                           str(tmp_path / "log"), "--pidfile", str(tmp_path / "p.pid")],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and "cannot read" in done.stderr


def test_second_supervisor_with_same_pidfile_is_refused(supervise, tmp_path):
    run = supervise([])
    run.wait(lambda s: s["state"] == "running")
    done = run_module("labnode.supervisor", "--config", str(run.config), "--logdir",
                      str(tmp_path / "log2"), "--pidfile", str(run.pidfile), timeout=10)
    assert done.returncode == 1 and "another supervisor is running" in done.stderr
    assert run.pidfile.read_text().strip() == str(run.proc.proc.pid)
    run.terminate()


# -- the pieces, in process ---------------------------------------------------

def test_backoff_doubles_caps_and_resets(tmp_path):
    spec = ServiceSpec("svc", "command", ["true"])
    supervisor = sup.Supervisor([spec], str(tmp_path))
    service = supervisor.services[0]
    delays = []
    for _ in range(9):
        service.started_mono = time.monotonic() - 1     # died young
        supervisor._exited(service, 1)
        delays.append(round(service.next_start - time.monotonic(), 1))
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    service.started_mono = time.monotonic() - sup.RESET_AFTER - 1  # stayed up long enough
    supervisor._exited(service, 1)
    assert round(service.next_start - time.monotonic(), 1) == 0.2


def test_args_become_flags():
    assert flags({"port": 80, "root": "/srv", "hello_timeout": 2.5, "verbose": True,
                  "quiet": False, "skip": None, "tag": ["a", "b"]}) == [
        "--port", "80", "--root", "/srv", "--hello-timeout", "2.5", "--verbose",
        "--tag", "a", "--tag", "b"]
    spec = build({"name": "e", "type": "udp-echo", "args": {"port": 7}}, 0, python="py")
    assert spec.argv == ["py", "-m", "labnode.services.udp_echo", "--port", "7"]
    assert build({"type": "select"}, 0, python="py").argv == \
        ["py", "-m", "labnode.services.select_server"]


@pytest.mark.parametrize("entry, problem", [
    ({"type": "nope"}, "unknown type"),
    ({"name": "../x", "type": "http"}, "bad name"),
    ({"type": "http", "args": [1]}, "args must be an object"),
    ({"type": "http", "args": {"port": {"a": 1}}}, "must be a string"),
    ({"type": "command"}, "needs \"command\""),
    ("text", "not an object"),
])
def test_bad_entries_carry_an_error(entry, problem):
    assert problem in build(entry, 0).error


def test_duplicate_names_are_reported(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"services": [{"type": "chat"}, {"type": "chat"}]}))
    specs = load(str(path))
    assert specs[0].error is None and "duplicate name 'chat'" in specs[1].error


def test_a_new_supervisor_stops_what_a_killed_one_left_running(supervise):
    """SIGKILL leaves the services running (holding their ports); the next
    supervisor stops them, then runs its own."""
    port = free_port()
    services = [{"name": "echo", "type": "udp-echo", "args": {"port": port, "bind": "127.0.0.1"}}]
    first = supervise(services)
    old = first.wait(running("echo"))["services"]["echo"]["pid"]
    first.wait_log("echo", "listening on")
    first.proc.proc.kill()
    first.proc.proc.wait()
    assert alive(old)  # orphaned, still holding the port
    second = supervise(services)
    new = second.wait(lambda s: running("echo")(s) and s["services"]["echo"]["pid"] != old)
    assert not alive(old)
    assert alive(new["services"]["echo"]["pid"])
    assert f"echo: stopped pid {old}, left running by an earlier supervisor" in second.log("supervisor")
    second.wait_log("echo", "listening on(?:.*\n)+.*listening on")  # the second one is ready too
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"hi", ("127.0.0.1", port))
        assert sock.recv(16) == b"hi"
    assert second.terminate() == 0
