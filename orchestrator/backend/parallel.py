"""A bounded thread pool for the per-node steps of the Docker backend."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from typing import TypeVar

from ..errors import BackendError, LabError

WORKERS = 8
T = TypeVar("T")


def parallel(items: Iterable[T], fn: Callable[[T], None], on_done: Callable[[T], None],
             name: Callable[[T], str] = str) -> None:
    """Run fn over items on a thread pool; the first failure is raised after
    every started call has finished (so nothing is still being created while
    the caller cleans up). A failure that is not already a LabError becomes a
    BackendError naming its item (`name`) and the real cause; the calls not
    started are cancelled, never reported in its place."""
    items = list(items)

    def one(item: T) -> None:
        try:
            fn(item)
        except LabError:
            raise
        except Exception as exc:  # the engine's or the kernel's own error: say where, and what
            raise BackendError(f"{name(item)}: {type(exc).__name__}: {exc}") from exc

    pool = ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(items))))
    futures = {pool.submit(one, item): item for item in items}
    try:
        first_error: BaseException | None = None
        for fut in as_completed(futures):
            if fut.cancelled():
                continue
            try:
                exc = fut.exception()
            except CancelledError:
                continue
            if exc is not None and first_error is None:
                first_error = exc
                for other in futures:
                    other.cancel()
            elif exc is None:
                on_done(futures[fut])
        if first_error is not None:
            raise first_error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
