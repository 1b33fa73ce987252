"""The exception tree. Every error the library raises on purpose is a LabError.

    LabError
    ├── TopologyError       the lab file is wrong (carries every Problem found)
    ├── LabFileNotFound     no lab file where one was named (also a FileNotFoundError)
    ├── ImageError          building or finding a node image failed
    ├── BackendError        the engine or the kernel refused something
    │   └── EngineUnavailable   no Docker engine answers
    ├── LabStateError       the lab is not in the state the command needs
    │                       (already deployed, not deployed, node unknown)
    ├── UsageError          an argument is not usable (a bad --name, an unknown node)
    │   └── UnitError       a time, percentage or rate written wrongly (also a
    │                       ValueError, so the lab-file models report it as a problem)
    ├── DeployError         a deploy failed; what it created was removed
    └── GraphError          drawing a lab failed (Graphviz missing or failing)

The command line turns each into a message and exit code 1; nothing else
(no traceback) reaches a user.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


class LabError(Exception):
    """Base class of every error this package raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or suspicious) in a lab file.

    `where` is a path into the file such as ``links[3].b``; `line` is the
    1-based line in the file when known.
    """

    where: str
    message: str
    hint: str = ""
    line: int | None = None
    severity: Severity = "error"

    def format(self, source: str | None = None) -> str:
        place = self.where or "(top level)"
        prefix = ""
        if source and self.line:
            prefix = f"{source}:{self.line}: "
        elif self.line:
            prefix = f"line {self.line}: "
        text = f"{prefix}{place}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class TopologyError(LabError):
    """The lab file has one or more errors. `problems` lists them all."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        count = len(problems)
        lines = "\n".join("  " + p.format(source) for p in problems)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{source}: {count} {noun} in the lab file:\n{lines}")


class LabFileNotFound(LabError, FileNotFoundError):
    """No lab file at the path given."""


class ImageError(LabError):
    """Building or locating a node image failed."""


class BackendError(LabError):
    """The container engine or the kernel refused an operation."""


class EngineUnavailable(BackendError):
    """No Docker engine answers on this machine."""


class LabStateError(LabError):
    """The lab is not in the state the operation needs."""


class UsageError(LabError):
    """An argument given to an operation is not usable."""


class UnitError(UsageError, ValueError):
    """A time, percentage or rate that cannot be read (e.g. '50' without a unit)."""


class DeployError(LabError):
    """A deploy failed. What it had created has been removed."""


class GraphError(LabError):
    """Drawing failed (for example: Graphviz is not installed)."""


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """'did you mean 'pc2'?' for the closest of choices, or None when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else None


def unknown_hint(word: str, choices: Iterable[str], what: str = "known", cutoff: float = 0.5,
                 at_most: int = 12) -> str:
    """The hint for a name that is not one of `choices`: the nearest ("did you
    mean 'pc2'?") when one is close, then every choice when they are few, else
    the closest few of them ("known: pc1, pc2, pc3" / "closest of 40: ...")."""
    names = sorted(set(choices))
    if not names:
        return f"there is nothing {what} yet"
    nearest = did_you_mean(word, names, cutoff=cutoff)
    if len(names) <= at_most:
        listed = f"{what}: " + ", ".join(names)
    else:
        closest = difflib.get_close_matches(word, names, n=at_most, cutoff=0.0)
        listed = f"closest of {len(names)} {what}: " + ", ".join(closest)
    return f"{nearest} ({listed})" if nearest else listed
