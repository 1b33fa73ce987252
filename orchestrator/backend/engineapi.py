"""The Docker Engine API's read-only lookups, over its unix socket, with the
standard library: listing containers by label and inspecting one.

Every command makes these lookups, most make nothing else (`lab status`), and
the SDK costs a fifth of a second to import; so they go straight to the
engine, and the SDK is loaded for what changes things. The API version is
negotiated like the SDK's `version="auto"`: the engine's, capped at what we
know.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import BackendError, EngineUnavailable

DEFAULT_SOCKET = "/var/run/docker.sock"
#: the newest API version whose list and inspect answers we read (the engine may speak older)
MAX_API = (1, 45)
TIMEOUT_S = 60.0


#: the most output of one exec that is read (the rest is an error, not memory)
MAX_EXEC_OUTPUT = 256 * 2**20


def demux(stream: bytes) -> tuple[bytes, bytes]:
    """stdout and stderr of an exec's output without a TTY: frames of an
    8-byte header (stream 1 or 2, three zero bytes, the size, big-endian)
    and that many bytes. A truncated last frame keeps what arrived; an
    unknown stream number counts as stdout."""
    out, err = bytearray(), bytearray()
    at, end = 0, len(stream)
    while at + 8 <= end:
        kind, size = stream[at], int.from_bytes(stream[at + 4:at + 8], "big")
        chunk = stream[at + 8:at + 8 + size]
        (err if kind == 2 else out).extend(chunk)
        at += 8 + size
    return bytes(out), bytes(err)


def _message(body: bytes) -> str:
    """The engine's error message out of its JSON answer (or the raw text)."""
    try:
        found = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:300]
    return str(found.get("message", "")) if isinstance(found, dict) else ""


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the engine's unix socket: `timeout` to connect and send,
    `answer_timeout` (None: none) for the answer."""

    def __init__(self, path: str, timeout: float, answer_timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self._path = path
        self._answer_timeout = answer_timeout

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def getresponse(self) -> http.client.HTTPResponse:
        if self.sock is not None:
            self.sock.settimeout(self._answer_timeout)
        return super().getresponse()


def socket_path() -> str | None:
    """The engine's unix socket from DOCKER_HOST (or the default); None when
    DOCKER_HOST names something else (tcp, ssh): then the SDK does the lookups."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host[len("unix://"):]
    return None


class EngineAPI:
    """GET requests to the engine; one short connection each (safe from any thread)."""

    def __init__(self, path: str, timeout: float = TIMEOUT_S):
        self.path = path
        self.timeout = timeout
        self._prefix: str | None = None

    def _request(self, url: str, method: str = "GET", body: Any = None,
                 limit: int | None = None, wait: bool = False) -> tuple[int, bytes]:
        """One request; `wait`: no time limit on the answer (an exec runs as long as its command)."""
        conn = _UnixConnection(self.path, self.timeout, None if wait else self.timeout)
        headers = {"Host": "docker"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, url, body=data, headers=headers)
            response = conn.getresponse()
            if limit is None:
                return response.status, response.read()
            got = response.read(limit + 1)
            if len(got) > limit:
                raise BackendError(f"the Docker engine's answer to {method} {url.split('?')[0]} is larger "
                                   f"than {limit // 2**20} MiB; not read")
            return response.status, got
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnavailable(f"no Docker engine answers on {self.path} ({exc.__class__.__name__}: {exc}); "
                                    "start one with scripts/bootstrap.sh") from None
        finally:
            conn.close()

    def _versioned(self) -> str:
        if self._prefix is None:
            status, body = self._request("/version")
            if status != 200:
                raise EngineUnavailable(f"the Docker engine on {self.path} answered /version with {status}")
            major, minor = (int(x) for x in json.loads(body)["ApiVersion"].split(".")[:2])
            self._prefix = "/v{}.{}".format(*min((major, minor), MAX_API))
        return self._prefix

    def get(self, path: str, **params: Any) -> Any:
        """The decoded JSON answer; None for 404 (the object is not there)."""
        query = ("?" + urlencode(params)) if params else ""
        status, body = self._request(f"{self._versioned()}{path}{query}")
        if status == 404:
            return None
        if status != 200:
            message = body.decode(errors="replace").strip()
            raise BackendError(f"the Docker engine answered {path} with {status}: {message}")
        return json.loads(body)

    def containers(self, labels: list[str]) -> list[dict[str, Any]]:
        """Every container (running or not) carrying all these labels: one request."""
        found: list[dict[str, Any]] = self.get("/containers/json", all="1",
                                               filters=json.dumps({"label": labels}))
        return found

    def archive(self, container: str, path: str) -> bytes | None:
        """A tar archive of `path` in a container (running or not); None if it is not there."""
        status, body = self._request(f"{self._versioned()}/containers/{quote(container, safe='')}/archive?"
                                     + urlencode({"path": path}))
        if status == 404:
            return None
        if status != 200:
            raise BackendError(f"the Docker engine answered an archive of {path} with {status}")
        return body

    def exec(self, container: str, argv: list[str]) -> tuple[int, bytes, bytes] | None:
        """Run argv in a running container, as `docker exec` does: (exit code,
        stdout, stderr); None if the container is gone. Three requests: the
        exec made, started (its output read to the end), its exit code read."""
        prefix = self._versioned()
        status, body = self._request(f"{prefix}/containers/{quote(container, safe='')}/exec", "POST",
                                     {"AttachStdout": True, "AttachStderr": True, "Cmd": argv})
        if status == 404:
            return None
        if status != 201:
            raise BackendError(f"running {argv[0]}: {_message(body) or status}")
        exec_id = quote(str(json.loads(body)["Id"]), safe="")
        status, stream = self._request(f"{prefix}/exec/{exec_id}/start", "POST", {"Detach": False, "Tty": False},
                                       limit=MAX_EXEC_OUTPUT, wait=True)
        if status == 404:
            return None
        if status != 200:
            raise BackendError(f"running {argv[0]}: {_message(stream) or status}")
        out, err = demux(stream)
        status, body = self._request(f"{prefix}/exec/{exec_id}/json")
        code = json.loads(body).get("ExitCode") if status == 200 else None
        return (code if isinstance(code, int) else -1), out, err

    def remove(self, container: str) -> bool:
        """Remove a container, running or not (`docker rm -f`): True if it was
        removed or was not there, False if its removal is already under way."""
        status, body = self._request(f"{self._versioned()}/containers/{quote(container, safe='')}?force=1",
                                     "DELETE")
        if status in (204, 404):
            return True
        if status == 409:
            return False
        raise BackendError(f"removing {container}: {_message(body) or status}")

    def inspect(self, container: str) -> dict[str, Any] | None:
        """A container's details; None if it is gone."""
        found: dict[str, Any] | None = self.get(f"/containers/{quote(container, safe='')}/json")
        return found
