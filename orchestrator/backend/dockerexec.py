"""A program exec'd in a container, its stdout and stderr streamed back.

The engine has no "kill this exec", so the program runs under
`sh -c 'echo pid; exec CMD'`: stop() sends the announced pid a signal from
a second exec.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import BackendError

_PID_TAG = b"labnet-pid="


class RemoteProcess:
    """One exec in one container (implements protocol.Stream)."""

    def __init__(self, api: Any, container: Any, argv: list[str]):
        self._api = api
        self._container = container
        wrapped = ["sh", "-c", 'echo "labnet-pid=$$" >&2; exec "$@"', "sh", *argv]
        self._exec_id = api.exec_create(container.id, wrapped, stdout=True, stderr=True)["Id"]
        self._queue: queue.Queue[tuple[bytes, bytes] | Exception | None] = queue.Queue()
        self._pid: int | None = None
        self._pid_seen = threading.Event()
        self._err_head = b""
        stream = api.exec_start(self._exec_id, stream=True, demux=True)
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Iterator[tuple[bytes | None, bytes | None]]) -> None:
        try:
            for out, err in stream:
                if err and self._pid is None:
                    self._err_head += err
                    head, sep, rest = self._err_head.partition(b"\n")
                    if sep and head.startswith(_PID_TAG):
                        self._pid = int(head[len(_PID_TAG):])
                        self._pid_seen.set()
                        err = rest
                    elif not sep:
                        continue
                    else:
                        err = self._err_head
                    self._err_head = b""
                self._queue.put((out or b"", err or b""))
        except Exception as exc:  # the engine connection broke: the reader reports it
            self._queue.put(exc)
        finally:
            self._pid_seen.set()
            self._queue.put(None)

    def chunks(self, poll_s: float = 0.2) -> Iterator[tuple[bytes, bytes] | None]:
        while True:
            try:
                item = self._queue.get(timeout=poll_s)
            except queue.Empty:
                yield None
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                raise BackendError(f"reading from the node failed: {item}") from item
            yield item

    def stop(self, signal: str = "INT") -> None:
        self._pid_seen.wait(timeout=3)
        if self._pid is not None:
            self._container.exec_run(["kill", f"-{signal}", str(self._pid)])

    def exit_code(self) -> int | None:
        self._thread.join(timeout=5)
        code = self._api.exec_inspect(self._exec_id).get("ExitCode")
        return int(code) if code is not None else None
