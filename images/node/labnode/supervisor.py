"""The in-node service supervisor.

    python3 -m labnode.supervisor --config /etc/labnet/services.json \\
        --logdir /var/log/labnet [--pidfile /run/labnet-supervisor.pid]

Runs in the foreground.  Starts every service of the config (see
labnode.svconfig) as a child process in its own session, appends its stdout
and stderr, one timestamped line at a time, to <logdir>/<name>.log, and
restarts a child that exits: after 0.2 s, doubling up to 10 s while it keeps
dying young; once a child has stayed up 10 s the delay starts from 0.2 s
again.  Its own messages go to <logdir>/supervisor.log; <logdir>/status.json
is rewritten (atomically) whenever a service changes state.  SIGTERM or
SIGINT stop every child (SIGTERM to its process group, SIGKILL 2 s later)
and then the supervisor itself.  An entry that cannot run (unknown type, ...)
is reported in supervisor.log and status.json; the others still run.

A supervisor that was killed (SIGKILL, OOM) leaves its children running,
holding their ports; the next one stops them first (their process groups,
found in the status.json it left), so that its own start cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import time

from labnode import bounded, contract
from labnode.svconfig import ConfigError, ServiceSpec, load

BACKOFF_MIN = 0.2
BACKOFF_MAX = 10.0
RESET_AFTER = 10.0
STOP_GRACE = 2.0
MAX_LINE = 16 * 1024
MAX_LOG_BYTES = 10 * 1024 * 1024
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stamp(when: float | None = None) -> str:
    """UTC time with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    when = time.time() if when is None else when
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1000):03d}Z"


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class LogFile:
    """Appends timestamped lines to a file; rotates it to .1 past max_bytes."""

    def __init__(self, path: str, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.partial = b""
        self.file = open(path, "ab", buffering=0)

    def line(self, text: bytes) -> None:
        self.file.write(stamp().encode() + b" " + text.rstrip(b"\r") + b"\n")
        if self.file.tell() > self.max_bytes:
            self.file.close()
            os.replace(self.path, self.path + ".1")
            self.file = open(self.path, "ab", buffering=0)

    def note(self, message: str) -> None:
        self.line(message.encode("utf-8", "replace"))

    def feed(self, chunk: bytes) -> None:
        """Output of a child, cut anywhere: complete lines are written."""
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        for text in lines:
            self.line(text)
        while len(self.partial) > MAX_LINE:  # a very long line is cut, not held forever
            self.line(self.partial[:MAX_LINE])
            self.partial = self.partial[MAX_LINE:]

    def end(self) -> None:
        if self.partial:
            self.line(self.partial)
            self.partial = b""

    def close(self) -> None:
        self.end()
        self.file.close()


class Service:
    def __init__(self, spec: ServiceSpec, logdir: str) -> None:
        self.spec = spec
        self.log = LogFile(os.path.join(logdir, f"{spec.name}.log"))
        self.proc: subprocess.Popen | None = None
        self.state = "failed" if spec.error else "starting"
        self.restarts = 0
        self.starts = 0
        self.last_exit: int | None = None
        self.started_mono = 0.0
        self.started_at: str | None = None
        self.failures = 0                # consecutive early deaths, for the backoff
        self.next_start: float | None = None if spec.error else 0.0

    def status(self) -> dict:
        return {"type": self.spec.type, "state": self.state,
                "pid": self.proc.pid if self.proc and self.state in ("running", "stopping") else None,
                "restarts": self.restarts, "last_exit": self.last_exit,
                "started": self.started_at, "error": self.spec.error, "log": self.log.path}


class Supervisor:
    def __init__(self, specs: list[ServiceSpec], logdir: str,
                 status_path: str | None = None) -> None:
        self.logdir = logdir
        self.log = LogFile(os.path.join(logdir, "supervisor.log"))
        self.status_path = status_path or os.path.join(logdir, "status.json")
        self.services = [Service(spec, logdir) for spec in specs]
        self.sel = selectors.DefaultSelector()
        self.state = "running"
        self.stop_signal: str | None = None
        self._changed = True

    # -- main loop --------------------------------------------------------

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
        self.sel.register(wake_r, selectors.EVENT_READ, None)
        self.log.note(f"supervisor {os.getpid()} starting {len(self.services)} service(s)")
        for pid, name in stop_orphans(self.status_path):
            self.log.note(f"{name}: stopped pid {pid}, left running by an earlier supervisor")
        for service in self.services:
            if service.spec.error:
                self.log.note(f"error: {service.spec.error}")
                service.log.note(f"[supervisor] not started: {service.spec.error}")
        try:
            while self.stop_signal is None:
                self._start_due()
                self._write_status()
                self._wait(self._timeout())
                self._reap()
            self.log.note(f"received {self.stop_signal}: stopping all services")
            self._stop_all()
        finally:
            signal.set_wakeup_fd(-1)
            os.close(wake_r)
            os.close(wake_w)
        self.state = "stopped"
        self._changed = True
        self._write_status()
        self.log.note("supervisor stopped")
        for service in self.services:
            service.log.close()
        return 0

    def _on_stop_signal(self, signum, frame) -> None:
        self.stop_signal = signal.Signals(signum).name

    def _timeout(self) -> float:
        due = [s.next_start for s in self.services if s.next_start is not None]
        if not due:
            return 1.0
        return max(0.0, min(1.0, min(due) - time.monotonic()))

    def _wait(self, timeout: float) -> None:
        """Sleep until output, a signal or the timeout; log what the children wrote."""
        for key, _ in self.sel.select(timeout):
            if key.data is None:
                try:
                    os.read(key.fd, 512)  # signal numbers: the handlers already ran
                except BlockingIOError:
                    pass
            else:
                self._read_output(key.data, key.fd)

    def _read_output(self, service: Service, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            service.log.feed(chunk)
        else:
            self.sel.unregister(fd)
            os.close(fd)
            service.log.end()

    # -- children ---------------------------------------------------------

    def _start_due(self) -> None:
        now = time.monotonic()
        for service in self.services:
            if service.next_start is not None and service.next_start <= now:
                self._start(service)

    def _start(self, service: Service) -> None:
        service.next_start = None
        if service.starts:
            service.restarts += 1
        service.starts += 1
        service.started_mono = time.monotonic()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (PACKAGE_DIR, os.environ.get("PYTHONPATH")) if p)
        try:
            proc = subprocess.Popen(service.spec.argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        except OSError as exc:
            self.log.note(f"{service.spec.name}: cannot start {service.spec.argv[0]}: {exc}")
            service.log.note(f"[supervisor] cannot start: {exc}")
            self._exited(service, 127)
            return
        service.proc = proc
        service.state = "running"
        service.started_at = stamp()
        self._changed = True
        fd = os.dup(proc.stdout.fileno())  # our own descriptor, closed at EOF
        proc.stdout.close()
        os.set_blocking(fd, False)
        self.sel.register(fd, selectors.EVENT_READ, service)
        what = "restarted" if service.restarts else "started"
        self.log.note(f"{service.spec.name}: {what} (pid {proc.pid}): {' '.join(service.spec.argv)}")
        service.log.note(f"[supervisor] {what} (pid {proc.pid})")

    def _reap(self) -> None:
        for service in self.services:
            proc = service.proc
            if proc is None or service.state != "running" or proc.poll() is None:
                continue
            self._drain(service)
            self._exited(service, proc.returncode)

    def _drain(self, service: Service) -> None:
        """Log what a dead child left in its pipe (grandchildren may keep it open)."""
        for key in list(self.sel.get_map().values()):
            if key.data is service:
                for _ in range(64):
                    if key.fd not in self.sel.get_map():
                        break
                    try:
                        chunk = os.read(key.fd, 65536)
                    except BlockingIOError:
                        break
                    if not chunk:
                        self._read_output(service, key.fd)  # EOF: unregister and close
                        break
                    service.log.feed(chunk)
        service.log.end()

    def _exited(self, service: Service, code: int) -> None:
        now = time.monotonic()
        lived = now - service.started_mono
        service.last_exit = code
        if lived >= RESET_AFTER:
            service.failures = 0
        delay = min(BACKOFF_MIN * 2 ** service.failures, BACKOFF_MAX)
        service.failures += 1
        service.state = "backoff"
        service.next_start = now + delay
        self._changed = True
        self.log.note(f"{service.spec.name}: {describe_exit(code)} after {lived:.1f}s; "
                      f"restarting in {delay:g}s")
        service.log.note(f"[supervisor] {describe_exit(code)}; restarting in {delay:g}s")

    def _stop_all(self) -> None:
        self.state = "stopping"
        running = [s for s in self.services if s.state == "running"]
        for service in self.services:
            service.next_start = None
            if service.state == "backoff":
                service.state = "stopped"
        for service in running:
            service.state = "stopping"
            self._signal(service, signal.SIGTERM)
        self._changed = True
        self._write_status()
        deadline = time.monotonic() + STOP_GRACE
        while any(s.proc.poll() is None for s in running) and time.monotonic() < deadline:
            self._wait(0.05)
        for service in running:
            if service.proc.poll() is None:
                self.log.note(f"{service.spec.name}: still running after {STOP_GRACE:g}s, SIGKILL")
                self._signal(service, signal.SIGKILL)
                service.proc.wait()
            self._drain(service)
            service.state = "stopped"
            service.last_exit = service.proc.returncode
            service.log.note(f"[supervisor] stopped: {describe_exit(service.proc.returncode)}")
            self.log.note(f"{service.spec.name}: stopped ({describe_exit(service.proc.returncode)})")

    @staticmethod
    def _signal(service: Service, signum: int) -> None:
        try:
            os.killpg(service.proc.pid, signum)  # the child and anything it started
        except ProcessLookupError:
            pass

    def _write_status(self) -> None:
        if not self._changed:
            return
        self._changed = False
        status = {"supervisor_pid": os.getpid(), "state": self.state, "updated": stamp(),
                  "services": {s.spec.name: s.status() for s in self.services}}
        tmp = self.status_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(status, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, self.status_path)


def stop_orphans(status_path: str, grace: float = STOP_GRACE) -> list[tuple[int, str]]:
    """Stop the services an earlier supervisor left running (read from its
    status.json): SIGTERM to each one's process group, SIGKILL after `grace`.
    Only processes that are still our service programs are touched."""
    try:
        previous = bounded.load_file(status_path)
        entries = previous.get("services", {}).items()
    except (OSError, ValueError, AttributeError):
        return []
    found = []
    for name, info in entries:
        pid = info.get("pid") if isinstance(info, dict) else None
        if isinstance(pid, int) and pid > 1 and pid != os.getpid() and _ours(pid):
            found.append((pid, str(name)))
    for pid, _ in found:
        _killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(pid) for pid, _ in found) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid, _ in found:
        if _alive(pid):
            _killpg(pid, signal.SIGKILL)
    return found


def _ours(pid: int) -> bool:
    """A service program of ours: in its own session, as the supervisor starts them."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
        return os.getsid(pid) == pid and b"labnode.supervisor" not in cmdline
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is no longer running
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _killpg(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def claim_pidfile(path: str) -> str | None:
    """Write our pid to path; the reason if another supervisor holds it."""
    try:
        with open(path, encoding="ascii") as handle:
            other = int(handle.read().strip() or 0)
        with open(f"/proc/{other}/cmdline", "rb") as handle:
            alive = b"labnode.supervisor" in handle.read()
        if alive and other != os.getpid():
            return f"another supervisor is running (pid {other}, {path})"
    except (OSError, ValueError):
        pass  # no pidfile, or a stale one
    with open(path, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    return None


def release_pidfile(path: str) -> None:
    try:
        with open(path, encoding="ascii") as handle:
            if handle.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lab-supervisor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=contract.SERVICES_CONFIG)
    parser.add_argument("--logdir", default=contract.LOG_DIR)
    parser.add_argument("--pidfile", default=contract.SUPERVISOR_PIDFILE)
    args = parser.parse_args(argv)
    os.makedirs(args.logdir, exist_ok=True)
    try:
        specs = load(args.config)
    except ConfigError as exc:
        LogFile(os.path.join(args.logdir, "supervisor.log")).note(f"error: {exc}")
        print(f"lab-supervisor: {exc}", file=sys.stderr)
        return 1
    problem = claim_pidfile(args.pidfile)
    if problem:
        LogFile(os.path.join(args.logdir, "supervisor.log")).note(f"error: {problem}")
        print(f"lab-supervisor: {problem}", file=sys.stderr)
        return 1
    try:
        return Supervisor(specs, args.logdir).run()
    finally:
        release_pidfile(args.pidfile)


if __name__ == "__main__":
    raise SystemExit(main())
