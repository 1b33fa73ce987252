"""Progress reporting. The library prints nothing: long steps call a callback
with Events, and the CLI decides how to show them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    stage: str            # "image", "create", "wire", "configure", "verify", "destroy"
    message: str
    done: int | None = None
    total: int | None = None


Progress = Callable[[Event], None]


def silent(event: Event) -> None:
    """The default callback: report nothing."""
