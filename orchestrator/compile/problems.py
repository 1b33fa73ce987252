"""What a compile found: errors and warnings, each with its place in the file."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import Problem, unknown_hint


class Problems:
    """Collects every problem of one compile; each step adds what it finds."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, where: str, message: str, hint: str = "") -> None:
        self.errors.append(Problem(where, message, hint))

    def warn(self, where: str, message: str, hint: str = "") -> None:
        self.warnings.append(Problem(where, message, hint, severity="warning"))

    def add(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            (self.warnings if p.severity == "warning" else self.errors).append(p)

    def __bool__(self) -> bool:
        return bool(self.errors)


def name_hint(word: str, choices: Iterable[str], what: str, otherwise: str) -> str:
    """The hint for an unknown name: the nearest of `choices` and the known
    ones (errors.unknown_hint, listed as `what`), or `otherwise` when there are none."""
    names = [c for c in choices if c]
    return unknown_hint(word, names, what=what) if names else otherwise
