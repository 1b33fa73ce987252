"""A bounded thread pool for the per-node steps of the Docker backend."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from typing import TypeVar

WORKERS = 8
T = TypeVar("T")


def parallel(items: Iterable[T], fn: Callable[[T], None], on_done: Callable[[T], None]) -> None:
    """Run fn over items on a thread pool; the first failure is raised after
    every started call has finished (so nothing is still being created while
    the caller cleans up)."""
    items = list(items)
    pool = ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(items))))
    futures = {pool.submit(fn, item): item for item in items}
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
